; fingerprint.asm - what a guest can see of a platform's PM timer, as named fields.
;
; A probe, not a test: it prints one `INFO: name=value` line per property and
; checks only that the RSDP and a FADT are there.  `python -m pmtimer_harness
; fingerprint` boots it (in the harness or in a peer) and reads the lines
; back; two platforms whose lines agree look the same to a guest's timer code.
;
; Nothing is assembled in: the probe finds everything the way an operating
; system does.  It follows the RSDP to the RSDT's FADT (include/acpi.inc;
; an XSDT-only RSDP has none), then, where the RSDP has one, to the XSDT's,
; and reads the timer fields from the FADT an ACPI 2.0 system would use (the
; XSDT's, else the RSDT's).  The timer is PM_TMR_BLK, or X_PM_TMR_BLK where
; only that names an I/O port.
;
; The fields, in the order they are measured and printed:
;   fadt_revision             the revision of the FADT the RSDT names; none: no RSDT (XSDT only)
;   xsdt_fadt_revision        the revision of the FADT the XSDT names; none: no XSDT
;   x_fields                  yes: the FADT reaches X_PM_TMR_BLK (220 bytes or more)
;   pm_tmr_blk, pm_tmr_len    the ACPI 1.0 timer fields
;   x_pm_tmr_blk              X_PM_TMR_BLK's address, and
;   x_pm_tmr_blk_access_size  its access size (0 undefined, 3 dword, 4 qword)
;   tmr_val_ext               Flags bit 8: a 32-bit timer
;   hardware_reduced          Flags bit 20: no fixed hardware
;   smi_cmd, acpi_enable      the port and value that switch to ACPI mode (0: always in it)
;   timer_port                the port probed below; none: the FADT names no I/O timer
;   tmr_sts_at_handover       PM1_STS bit 0 as the firmware left it
;   sci_en_at_handover        PM1_CNT bit 0 as the firmware left it (0: legacy mode)
;   tmr_en_readback           PM1_EN bit 0 read back after writing 1 there
;   read1_at_0 .. read1_at_3  what a 1-byte read at the timer port + N returns,
;   read2_at_0 .. read2_at_3  a 2-byte read,
;   read4_at_1 .. read4_at_3  a 4-byte read off the timer port,
;   write4                    what a 4-byte write of 0 to the timer does.
; A PM1 field is `none` when the FADT names no PM1a block.  PM1 registers are
; read and written 2 bytes at a time, which every platform here accepts.
;
; A raw count is no fingerprint: it differs on every run.  So each read is
; classed against 4-byte reads of the timer just before and just after it,
; with a pause before the read, so that the count has moved on:
;   all-ones   every bit set (an unclaimed port, or a platform that says no)
;   zero       every bit clear (QEMU under TCG: an unaligned access is invalid)
;   stale      the low bytes of the 4-byte read before: the I/O buffer untouched
;   low-bytes  the count's low bytes, whatever the offset (QEMU)
;   lanes      the count's bytes at the read's offset (Hyper-V)
;   split      the read taken apart into aligned pieces, each read on its own:
;              a piece in the timer's four ports gives the count's low bytes,
;              one past them 0xFF (QEMU under KVM)
;   other      none of these
; Each read is tried three times and the class two trials agree on is printed
; (`unsteady` if none do).  A zero, stale or lane value that the count makes
; ambiguous at that moment is classed by the first rule it meets in this order.
; Where the count moves further between the two 4-byte reads than the read's
; bytes can hold (nested KVM takes milliseconds an exit), the trial is taken
; again; if it never fits, any value that is not all ones, zero or stale is
; taken as low-bytes: lanes cannot be told from them there.  A read taken
; apart (off its alignment) in a loosely timed trial is tried as split first.
; The write is `ignored` when the count read after it is a small step on from
; the one before, `changes-the-count` otherwise.
;
; A platform that stops the guest at a narrow read or a write (bhyve) ends the
; probe there; the fingerprint command reports that field as the one that
; stopped it.  Interrupts stay off: a TMR_EN read-back must not take the SCI.
; Run by itself, it shows the qemu profile, whose reads all get an answer.
; harness: --platform qemu
; expect: acpi=error bhyve=error

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
        %include "acpi.inc"

%define FADT_REVISION        8
%define FADT_LENGTH          4
%define FADT_X_PM_TMR_BLK    208   ; a Generic Address Structure: space, bit width, bit offset, access size, address
%define FADT_X_FIELDS_END    220    ; X_PM_TMR_BLK's last byte, plus one
%define GAS_SYSTEM_IO        1
%define HW_REDUCED_ACPI     (1 << 20)
%define PAUSE_LOOPS         3000   ; a few microseconds anywhere: the count moves on
%define SMALL_STEP          0x10000
%define TRIES               8      ; reads taken again while the count outruns them

; FIELD "name": starts the line `INFO: name=`.
%macro FIELD 1
        PRINT   {"INFO: ", %1, "="}
%endmacro

; CLASSED_READ "name", width, offset: the line for one kind of read.
%macro CLASSED_READ 3
        FIELD   %1
        mov     byte [read_width], %2
        mov     byte [read_offset], %3
        call    class_of_the_read_in_three_trials
        call    print_class
        NEWLINE
%endmacro

guest_main:
        cli
        call    find_rsdt_fadt
        setnc   byte [have_a_fadt]
        cmp     word [rsdp_segment], 0
        CHECK   ne, "the RSDP is found"
        je      done

report_the_rsdt_fadt:
        FIELD   "fadt_revision"
        cmp     byte [have_a_fadt], 0
        je      .no_rsdt_fadt
        movzx   eax, byte [es:FADT_REVISION]
        PRINT_DEC eax
        jmp     .printed
.no_rsdt_fadt:
        PRINT   "none"
.printed:
        NEWLINE

report_the_xsdt_fadt:
        FIELD   "xsdt_fadt_revision"
        call    find_xsdt_fadt
        jc      .no_xsdt
        mov     byte [have_a_fadt], 1
        movzx   eax, byte [es:FADT_REVISION]
        PRINT_DEC eax
        jmp     .printed
.no_xsdt:
        PRINT   "none"
.printed:
        NEWLINE
        cmp     byte [have_a_fadt], 0
        CHECK   ne, "a FADT is found through the RSDT or the XSDT"
        je      done

report_the_timer_fields:
        FIELD   "x_fields"
        cmp     dword [es:FADT_LENGTH], FADT_X_FIELDS_END
        setae   byte [has_x_fields]
        call    print_whether_the_x_fields_are_there
        FIELD   "pm_tmr_blk"
        PRINT_HEX [es:FADT_PM_TMR_BLK]
        NEWLINE
        FIELD   "pm_tmr_len"
        movzx   eax, byte [es:FADT_PM_TMR_LEN]
        PRINT_DEC eax
        NEWLINE
        FIELD   "x_pm_tmr_blk"
        cmp     byte [has_x_fields], 0
        je      .no_x_fields
        PRINT_HEX [es:FADT_X_PM_TMR_BLK + 4]
        NEWLINE
        FIELD   "x_pm_tmr_blk_access_size"
        movzx   eax, byte [es:FADT_X_PM_TMR_BLK + 3]
        PRINT_DEC eax
        NEWLINE
        jmp     .flags
.no_x_fields:
        PRINT   "none"
        NEWLINE
        FIELD   "x_pm_tmr_blk_access_size"
        PRINT   "none"
        NEWLINE
.flags:
        FIELD   "tmr_val_ext"
        mov     eax, [es:FADT_FLAGS]
        shr     eax, 8
        and     eax, 1
        PRINT_DEC eax
        NEWLINE
        FIELD   "hardware_reduced"
        mov     eax, [es:FADT_FLAGS]
        shr     eax, 20
        and     eax, 1
        PRINT_DEC eax
        NEWLINE
        FIELD   "smi_cmd"
        PRINT_HEX [es:FADT_SMI_CMD]
        NEWLINE
        FIELD   "acpi_enable"
        movzx   eax, byte [es:FADT_ACPI_ENABLE]
        PRINT_HEX eax
        NEWLINE

report_the_timer_port:
        call    choose_the_timer_port
        FIELD   "timer_port"
        cmp     word [timer_port], 0
        je      .none
        movzx   eax, word [timer_port]
        PRINT_HEX eax
        jmp     .printed
.none:
        PRINT   "none"
.printed:
        NEWLINE

report_the_pm1_registers_as_handed_over:
        mov     eax, [es:FADT_PM1A_EVT_BLK]
        mov     [pm1_status_port], ax
        mov     eax, [es:FADT_PM1A_CNT_BLK]
        mov     [pm1_control_port], ax
        FIELD   "tmr_sts_at_handover"
        mov     dx, [pm1_status_port]
        call    print_bit_0_of_the_word_at_dx
        FIELD   "sci_en_at_handover"
        mov     dx, [pm1_control_port]
        call    print_bit_0_of_the_word_at_dx
        FIELD   "tmr_en_readback"
        mov     dx, [pm1_status_port]
        test    dx, dx
        jz      .no_pm1_block
        add     dx, 2                   ; PM1_EN
        in      ax, dx
        mov     bx, ax                  ; to put back
        or      ax, 1                   ; TMR_EN
        out     dx, ax
        in      ax, dx
        and     eax, 1
        PRINT_DEC eax
        mov     ax, bx
        out     dx, ax
        jmp     .printed
.no_pm1_block:
        PRINT   "none"
.printed:
        NEWLINE

report_the_reads:
        cmp     word [timer_port], 0
        je      done                    ; no timer: nothing more to see
        CLASSED_READ "read1_at_0", 1, 0
        CLASSED_READ "read1_at_1", 1, 1
        CLASSED_READ "read1_at_2", 1, 2
        CLASSED_READ "read1_at_3", 1, 3
        CLASSED_READ "read2_at_0", 2, 0
        CLASSED_READ "read2_at_1", 2, 1
        CLASSED_READ "read2_at_2", 2, 2
        CLASSED_READ "read2_at_3", 2, 3
        CLASSED_READ "read4_at_1", 4, 1
        CLASSED_READ "read4_at_2", 4, 2
        CLASSED_READ "read4_at_3", 4, 3

report_a_write:
        FIELD   "write4"
        mov     dx, [timer_port]
        in      eax, dx
        mov     ebx, eax
        xor     eax, eax
        out     dx, eax
        in      eax, dx
        sub     eax, ebx
        and     eax, 0x00FFFFFF         ; a forward step, in 24 bits as in 32
        cmp     eax, SMALL_STEP
        jae     .changed
        PRINT   "ignored"
        jmp     .printed
.changed:
        PRINT   "changes-the-count"
.printed:
        NEWLINE
done:
        FINISH

; ---- the tables ---------------------------------------------------------------

; choose_the_timer_port: [timer_port] = PM_TMR_BLK, else an I/O X_PM_TMR_BLK below 64 KiB, else 0.
choose_the_timer_port:
        mov     eax, [es:FADT_PM_TMR_BLK]
        test    eax, eax
        jnz     .take_eax
        cmp     byte [has_x_fields], 0
        je      .take_eax
        cmp     byte [es:FADT_X_PM_TMR_BLK], GAS_SYSTEM_IO
        jne     .take_eax
        cmp     dword [es:FADT_X_PM_TMR_BLK + 8], 0
        jne     .take_eax
        mov     eax, [es:FADT_X_PM_TMR_BLK + 4]
.take_eax:
        cmp     eax, 0xFFFF
        jbe     .fits
        xor     eax, eax                ; no port an IN can reach
.fits:
        mov     [timer_port], ax
        ret

; ---- reads, classed -------------------------------------------------------------

; class_of_the_read_in_three_trials: AL = the class two of three trials agree on, else UNSTEADY.
class_of_the_read_in_three_trials:
        call    one_trial
        mov     bl, al
        call    one_trial
        mov     bh, al
        call    one_trial
        cmp     bl, bh
        je      .first
        cmp     bl, al
        je      .first
        cmp     bh, al
        je      .third
        mov     al, UNSTEADY
.third:
        ret
.first:
        mov     al, bl
        ret

; one_trial: a 4-byte read, a pause, the read asked for ([read_width] bytes at
; the timer port + [read_offset]), a 4-byte read; AL = its class.  A trial
; whose count moved further than the read's bytes can hold is taken again, up
; to TRIES times (slow exits: a 2-byte read under nested KVM needs a few).
one_trial:
        push    bx
        movzx   ecx, byte [read_width]
        call    width_mask
        mov     [read_mask], ebx
        mov     byte [tries_left], TRIES
.again:
        mov     dx, [timer_port]
        in      eax, dx
        mov     [count_before], eax
        mov     ecx, PAUSE_LOOPS
.pause:
        dec     ecx
        jnz     .pause
        movzx   ax, byte [read_offset]
        add     dx, ax
        call    read_at_dx
        mov     [value_read], eax
        mov     dx, [timer_port]
        in      eax, dx
        mov     [count_after], eax
        sub     eax, [count_before]
        cmp     eax, [read_mask]
        jbe     .close_enough
        dec     byte [tries_left]
        jnz     .again
.close_enough:
        call    classify
        pop     bx
        ret

; read_at_dx: EAX = a [read_width]-byte read at port DX, zero-extended.
read_at_dx:
        xor     eax, eax
        cmp     byte [read_width], 2
        jb      .byte
        je      .word
        in      eax, dx
        ret
.byte:
        in      al, dx
        ret
.word:
        in      ax, dx
        ret

; width_mask: EBX = the mask of an ECX-byte value (1, 2, 3 or 4).
width_mask:
        push    ecx
        shl     ecx, 3
        mov     ebx, 1
        shl     ebx, cl                 ; 1 << 32 is 1 << 0 on x86: patched below
        dec     ebx
        cmp     ecx, 32
        jb      .done
        mov     ebx, 0xFFFFFFFF
.done:
        pop     ecx
        ret

; read_between_the_counts: ZF/CF as for `jbe`: EAX's bytes (mask EBX) lie
; between those of [count_before] and [count_after] shifted right by CL bits.
; When the count moved further than those bytes can tell (exits so slow that
; the read and the counts around it are far apart, as under nested KVM), any
; value lies between.
read_between_the_counts:
        push    edx
        push    esi
        mov     edx, [count_before]
        shr     edx, cl                 ; the first count's bytes at the read's place
        mov     esi, [count_after]
        shr     esi, cl
        sub     esi, edx                ; how far the count moved, at the read's place
        cmp     esi, ebx
        ja      .any_value_lies_between
        neg     edx
        add     edx, eax
        and     edx, ebx                ; how far past the first count the read is
        cmp     edx, esi
        jmp     .done
.any_value_lies_between:
        cmp     esi, esi
.done:
        pop     esi
        pop     edx
        ret

; classify: AL = the class of [value_read] against [count_before] and [count_after].
classify:
        movzx   ecx, byte [read_width]
        call    width_mask              ; EBX = the read's mask
        mov     eax, [value_read]
        cmp     eax, ebx
        je      .all_ones
        test    eax, eax
        jz      .zero
        mov     edx, [count_before]
        and     edx, ebx
        cmp     eax, edx
        je      .stale
        call    loosely_timed_read_in_pieces
        jne     .low_bytes_or_lanes
        call    read_in_split_pieces
        je      .split
.low_bytes_or_lanes:
        xor     cl, cl
        call    read_between_the_counts
        jbe     .low_bytes
        mov     cl, [read_offset]
        shl     cl, 3
        call    read_between_the_counts
        jbe     .lanes
        call    read_in_split_pieces
        je      .split
        mov     al, OTHER
        ret
.all_ones:
        mov     al, ALL_ONES
        ret
.zero:
        mov     al, ZERO
        ret
.stale:
        mov     al, STALE
        ret
.low_bytes:
        mov     al, LOW_BYTES
        ret
.lanes:
        mov     al, LANES
        ret
.split:
        mov     al, SPLIT
        ret

; loosely_timed_read_in_pieces: ZF set when the read would be taken apart
; (more than one byte, off its natural alignment) and the count moved more
; than a sixteenth of what the read's bytes hold around it.  Then a value
; taken apart (under nested KVM: two exits, milliseconds apart) lands by
; chance in the wide window of counts the low-bytes rule allows, often
; enough to change a class of three trials now and then: the split rule,
; whose every piece is checked, is asked first.  An aligned or 1-byte read
; is one piece, which is the low-bytes rule itself.
loosely_timed_read_in_pieces:
        push    eax
        push    ecx
        movzx   ecx, byte [read_width]
        cmp     ecx, 1
        je      .not_in_pieces
        movzx   eax, byte [read_offset]
        dec     ecx
        test    eax, ecx
        jz      .not_in_pieces          ; aligned: one piece
        mov     eax, [count_after]
        sub     eax, [count_before]
        mov     ecx, [read_mask]
        shr     ecx, 4
        cmp     eax, ecx
        jbe     .not_in_pieces          ; tightly timed: every rule is decisive
        cmp     al, al                  ; ZF set
        jmp     .done
.not_in_pieces:
        or      sp, sp                  ; ZF clear: the stack pointer is never 0 here
.done:
        pop     ecx
        pop     eax
        ret

; read_in_split_pieces: ZF set when [value_read] is what the read gives taken
; apart at natural alignment (the largest of 4, 2, 1 bytes that the position
; allows and the read still covers), each piece a read of its own: the
; count's low bytes for a piece in the timer's four ports, all ones past them.
read_in_split_pieces:
        pushad
        movzx   edi, byte [read_offset] ; the piece's position in the timer's block
        movzx   ebp, byte [read_width]
        add     ebp, edi                ; where the read ends
        mov     esi, [value_read]       ; the pieces, lowest first
.next_piece:
        cmp     edi, ebp
        jae     .all_pieces_fit
        mov     ecx, 4
        call    piece_fits
        je      .size_chosen
        mov     ecx, 2
        call    piece_fits
        je      .size_chosen
        mov     ecx, 1
.size_chosen:
        call    width_mask              ; EBX = the piece's mask
        mov     eax, esi
        and     eax, ebx                ; the piece
        cmp     edi, 4
        jb      .piece_in_the_block
        cmp     eax, ebx
        jne     .not_split              ; past the block: all ones
        jmp     .piece_fits_the_rule
.piece_in_the_block:
        push    ecx
        xor     cl, cl
        call    read_between_the_counts
        pop     ecx
        ja      .not_split
.piece_fits_the_rule:
        add     edi, ecx
        shl     ecx, 3
        cmp     ecx, 32
        jae     .all_pieces_fit         ; a 4-byte piece: nothing past it
        shr     esi, cl
        jmp     .next_piece
.all_pieces_fit:
        popad
        cmp     al, al                  ; ZF set
        ret
.not_split:
        popad
        or      sp, sp                  ; ZF clear: the stack pointer is never 0 here
        ret

; piece_fits: ZF set when a piece of ECX bytes can start at EDI (aligned) and end by EBP.
piece_fits:
        push    eax
        mov     eax, ecx
        dec     eax
        test    edi, eax
        jnz     .no
        lea     eax, [edi + ecx]
        cmp     eax, ebp
        ja      .no
        pop     eax
        cmp     al, al
        ret
.no:
        pop     eax
        or      sp, sp
        ret

; ---- printing ---------------------------------------------------------------------

ALL_ONES  equ 0
ZERO      equ 1
STALE     equ 2
LOW_BYTES equ 3
LANES     equ 4
SPLIT     equ 5
OTHER     equ 6
UNSTEADY  equ 7

class_names:
        dw      .all_ones, .zero, .stale, .low_bytes, .lanes, .split, .other, .unsteady
.all_ones:  db "all-ones", 0
.zero:      db "zero", 0
.stale:     db "stale", 0
.low_bytes: db "low-bytes", 0
.lanes:     db "lanes", 0
.split:     db "split", 0
.other:     db "other", 0
.unsteady:  db "unsteady", 0

; print_class: prints the name of class AL.
print_class:
        push    esi
        movzx   esi, al
        shl     esi, 1
        mov     si, [class_names + esi]
        movzx   esi, si
        call    console_puts
        pop     esi
        ret

; print_bit_0_of_the_word_at_dx: "0" or "1" and a newline; "none" when DX is 0 (no PM1 block).
print_bit_0_of_the_word_at_dx:
        test    dx, dx
        jz      .none
        in      ax, dx
        and     eax, 1
        PRINT_DEC eax
        NEWLINE
        ret
.none:
        PRINT   "none"
        NEWLINE
        ret

print_whether_the_x_fields_are_there:
        cmp     byte [has_x_fields], 0
        je      .no
        PRINT   "yes"
        NEWLINE
        ret
.no:
        PRINT   "no"
        NEWLINE
        ret

timer_port:       dw 0
pm1_status_port:  dw 0
pm1_control_port: dw 0
has_x_fields:     db 0
have_a_fadt:      db 0
read_width:       db 0
read_offset:      db 0
count_before:     dd 0
count_after:      dd 0
value_read:       dd 0
read_mask:        dd 0
tries_left:       db 0
