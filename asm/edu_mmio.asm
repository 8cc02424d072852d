; edu_mmio.asm - a driver's first steps with QEMU's edu teaching device, through memory-mapped registers.
;
; The edu device (devices/edu.py, after QEMU's docs/specs/edu.rst) answers
; 4-byte reads and writes of its registers in a 1 MiB region at EDU_BASE,
; where `--device edu` puts it, and drives IRQ 11, a level-triggered line
; (PCI INTx), while its interrupt status is not 0.  In 32-bit protected mode
; this guest checks, as a driver would:
;   1. ID (0x00) reads 0x010000ed;
;   2. LIVENESS (0x04) reads back the bitwise inverse of what was written;
;   3. FACTORIAL (0x08): write 10, poll STATUS (0x20) until bit 0
;      (computing) clears, read 10! = 3628800;
;   4. the same with STATUS bit 7 set (raise an interrupt when done) and 12!:
;      IRQ 11 is routed to vector 0x2B through the PIC pair, interrupts are
;      on, and the handler reads IRQ_STATUS (0x24) and acknowledges it
;      (writes it to 0x64), then sends the PICs their EOIs.  The interrupt
;      must come, say 1 (the factorial's), and come once: a line the
;      acknowledgement did not lower interrupts again after the EOI, and the
;      handler then masks IRQ 11 so that the guest can say so.
; The guest waits for the interrupt by polling its flag a bounded number of
; times, not with HLT: a device that never raised its line would leave a HLT
; waiting for ever, and the guest could not report it.
; Each check prints PASS or FAIL (report.inc); the exit code is 0 when all held.
; harness: --mode 32 --device edu
; portable: no, the edu device's registers are where the harness puts them; QEMU's firmware places its BAR through PCI

        bits 32
        org LOAD_ADDRESS
        %include "report.inc"

%define EDU_BASE        0xFEA00000      ; devices/edu.py's EDU_BASE: a model's choice, not PCI's
%define EDU_ID          0x00
%define EDU_LIVENESS    0x04
%define EDU_FACTORIAL   0x08
%define EDU_STATUS      0x20
%define EDU_IRQ_STATUS  0x24
%define EDU_IRQ_ACK     0x64
%define COMPUTING       0x01
%define IRQFACT         0x80
%define FACT_IRQ        0x01
%define EDU_VECTOR      0x2B            ; slave PIC base 0x28 + line 3 (IRQ 11)
%define PIC1_COMMAND    0x20
%define PIC1_DATA       0x21
%define PIC2_COMMAND    0xA0
%define PIC2_DATA       0xA1
%define PIC_EOI         0x20
%assign POLLS           100000          ; a factorial takes 1 us of virtual time: a few hundred polls
%if CLOCK_VIRTUAL
%assign WAIT_TURNS      100000          ; the interrupt comes at the first block boundary past 1 us
%else
%assign WAIT_TURNS      50000000        ; host time: the harness looks at a due event when a slice of CPU ends
%endif
%assign SETTLE          1000            ; loop turns in which a second interrupt would come
%assign LIVE_VALUE      0x12345678

guest_main:
        cli
        lgdt    [gdtr]
        jmp     0x08:flat
flat:   mov     ax, 0x10
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     esp, LOAD_ADDRESS
        lidt    [idtr]
        mov     ebx, EDU_BASE

        ; 1. Who is there.
        mov     eax, [ebx + EDU_ID]
        cmp     eax, 0x010000ed
        CHECK   e, "ID (0x00) reads 0x010000ed, edu version 1.0"

        ; 2. Is it alive: the card answers with the inverse.
        mov     dword [ebx + EDU_LIVENESS], LIVE_VALUE
        mov     eax, [ebx + EDU_LIVENESS]
        cmp     eax, ~LIVE_VALUE & 0xFFFFFFFF
        CHECK   e, "LIVENESS (0x04) reads back the inverse of the value written"

        ; 3. A factorial, waited for by polling STATUS.
        mov     dword [ebx + EDU_FACTORIAL], 10
        mov     ecx, POLLS
poll:   test    dword [ebx + EDU_STATUS], COMPUTING
        jz      polled
        dec     ecx
        jnz     poll
polled: test    dword [ebx + EDU_STATUS], COMPUTING
        CHECK   z, "STATUS (0x20) bit 0, computing, clears when the factorial is done"
        mov     eax, [ebx + EDU_FACTORIAL]
        cmp     eax, 3628800
        CHECK   e, "FACTORIAL (0x08) reads 10! = 3628800"

        ; 4. A factorial that ends with an interrupt.
        call    route_irq_11
        mov     dword [ebx + EDU_STATUS], IRQFACT
        mov     dword [ebx + EDU_FACTORIAL], 12
        sti
        mov     ecx, WAIT_TURNS
waiting: cmp     dword [interrupts], 0
        jne     came
        dec     ecx
        jnz     waiting
came:    mov     ecx, SETTLE             ; time for a second interrupt, if the line stayed high
settle: dec     ecx
        jnz     settle
        cli
        cmp     dword [interrupts], 0
        CHECK   ne, "IRQ 11 came when the factorial was done (STATUS bit 7 set)"
        cmp     dword [status_seen], FACT_IRQ
        CHECK   e, "IRQ_STATUS (0x24) said 1 in the handler: the factorial's interrupt"
        mov     eax, [ebx + EDU_FACTORIAL]
        cmp     eax, 479001600
        CHECK   e, "FACTORIAL reads 12! = 479001600"
        cmp     dword [ebx + EDU_IRQ_STATUS], 0
        CHECK   e, "IRQ_STATUS reads 0 once the handler acknowledged it (0x64)"
        cmp     dword [interrupts], 1
        CHECK   be, "one interrupt for one factorial: the acknowledgement lowered the line"
        FINISH

; route_irq_11: the 8259 pair at vectors 0x20 and 0x28, every line masked but the cascade (IRQ 2) and IRQ 11.
route_irq_11:
        mov     al, 0x11                ; ICW1: edge (the ELCR makes IRQ 11 level), cascade, ICW4 follows
        out     PIC1_COMMAND, al
        out     PIC2_COMMAND, al
        mov     al, 0x20                ; ICW2: vector bases
        out     PIC1_DATA, al
        mov     al, 0x28
        out     PIC2_DATA, al
        mov     al, 4                   ; ICW3: the slave on IRQ 2
        out     PIC1_DATA, al
        mov     al, 2
        out     PIC2_DATA, al
        mov     al, 1                   ; ICW4: 8086 mode
        out     PIC1_DATA, al
        out     PIC2_DATA, al
        mov     al, 0xFB                ; OCW1: masks
        out     PIC1_DATA, al
        mov     al, 0xF7
        out     PIC2_DATA, al
        ret

; edu_interrupt: IRQ 11.  Read what raised it, acknowledge exactly that, then EOI the slave and the master.
edu_interrupt:
        pushad
        mov     ebx, EDU_BASE
        mov     eax, [ebx + EDU_IRQ_STATUS]
        mov     [status_seen], eax
        mov     [ebx + EDU_IRQ_ACK], eax
        inc     dword [interrupts]
        cmp     dword [interrupts], 1
        jbe     .eoi
        in      al, PIC2_DATA           ; again: the line is still high; mask it, or it never stops
        or      al, 0x08
        out     PIC2_DATA, al
.eoi:   mov     al, PIC_EOI
        out     PIC2_COMMAND, al
        out     PIC1_COMMAND, al
        popad
        iret

interrupts:     dd 0
status_seen:    dd 0

        align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF           ; 0x08: flat 32-bit code
        dq 0x00CF92000000FFFF           ; 0x10: flat data
gdtr:   dw 3 * 8 - 1
        dd gdt
idt:    times EDU_VECTOR dq 0
        dw edu_interrupt, 0x0008, 0x8E00, 0     ; a 32-bit interrupt gate; its offset's high half is 0
idtr:   dw (EDU_VECTOR + 1) * 8 - 1
        dd idt
