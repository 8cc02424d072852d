/* x86 instruction lengths and kinds: what the virtual clock needs of a block.
 *
 * Under the virtual clock each new translation block is decoded once
 * (core/blocks.py) to learn how many instructions it retires, where its port
 * instructions and TSC reads sit, and whether it ends in HLT.  capstone does
 * that on the Python path, and stays the reference and the source of every
 * instruction's text; but importing it costs about half of what importing
 * Unicorn does, on every run.  This decoder gives the same lengths without it.
 *
 * What it models (Intel SDM vol. 2, chapter 2 and appendix A; AMD APM vol. 3
 * for 3DNow!): legacy prefixes in any number and order, REX in 64-bit code
 * (only as the last prefix), the one-byte, 0F, 0F38 and 0F3A maps, ModRM, SIB
 * and displacement in 16- and 32/64-bit addressing, immediates by operand and
 * address size (MOV to or from a control or debug register ignores ModRM.mod),
 * VEX (C4/C5) and EVEX (62), which outside 64-bit code are LES/LDS/BOUND
 * unless ModRM.mod is 11, and 3DNow! (0F 0F, its opcode an imm8 after the
 * operands).  Where QEMU, which Unicorn runs, and the SDM differ, QEMU wins:
 * in 64-bit code a 66 prefix makes a near CALL, JMP or Jcc rel16, as AMD reads
 * it (capstone reads some of them as rel32: tests/test_insn_decode.py).
 *
 * What it does not: an opcode undefined in the mode (or a group member that
 * is, such as FF /7) gets no length: the decoding stops before it, as the
 * CPU raises #UD there, and the caller sees the block not covered.  So do an
 * instruction longer than 15 bytes (#GP) and one cut off by the block's end.
 * Other encodings that raise #UD (a VEX after a 66 prefix, UD2, a register
 * operand where memory is required) get the length capstone gives them: the
 * CPU stops there all the same, and both decoders then agree.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define MAX_INSN_BYTES 15

/* Kinds and flags, as core/blocks.py names them. */
enum { KIND_OTHER = 0, KIND_PORT = 1, KIND_RDTSC = 2, KIND_RDTSCP = 3, KIND_HLT = 4 };
#define FLAG_MEMORY 1        /* may read or write memory: a memory operand, or implicitly (stack, strings) */
#define FLAG_ENDS_BLOCK 2    /* QEMU ends a translation block after it (blocks.py: ends_block) */

/* --- opcode maps ------------------------------------------------------ */

/* One entry per opcode: a ModRM byte follows, what immediate follows, and
 * whether the opcode is undefined (everywhere, or in 64-bit code). */
#define MR 0x01              /* ModRM (with SIB and displacement as it says) */
#define UD 0x02              /* undefined */
#define U6 0x04              /* undefined in 64-bit code */
#define PF 0x08              /* a prefix, or an escape handled by hand */
#define IMM(kind) ((kind) << 4)
#define IMM_OF(entry) ((entry) >> 4)
enum { I_NONE, I_B, I_W, I_Z, I_V, I_ENTER, I_FAR, I_MOFFS };
#define IB IMM(I_B)
#define IW IMM(I_W)
#define IZ IMM(I_Z)          /* 2 or 4 bytes by operand size; also rel16/rel32 */
#define IV IMM(I_V)          /* 2, 4 or 8 bytes by operand size: MOV r, imm */

static const uint8_t ONE_BYTE[256] = {
    /* 00 */ MR, MR, MR, MR, IB, IZ, U6, U6, MR, MR, MR, MR, IB, IZ, U6, PF,
    /* 10 */ MR, MR, MR, MR, IB, IZ, U6, U6, MR, MR, MR, MR, IB, IZ, U6, U6,
    /* 20 */ MR, MR, MR, MR, IB, IZ, PF, U6, MR, MR, MR, MR, IB, IZ, PF, U6,
    /* 30 */ MR, MR, MR, MR, IB, IZ, PF, U6, MR, MR, MR, MR, IB, IZ, PF, U6,
    /* 40 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 50 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 60 */ U6, U6, PF, MR, PF, PF, PF, PF, IZ, MR | IZ, IB, MR | IB, 0, 0, 0, 0,
    /* 70 */ IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB,
    /* 80 */ MR | IB, MR | IZ, MR | IB | U6, MR | IB, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR,
    /* 90 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, IMM(I_FAR) | U6, 0, 0, 0, 0, 0,
    /* A0 */ IMM(I_MOFFS), IMM(I_MOFFS), IMM(I_MOFFS), IMM(I_MOFFS), 0, 0, 0, 0, IB, IZ, 0, 0, 0, 0, 0, 0,
    /* B0 */ IB, IB, IB, IB, IB, IB, IB, IB, IV, IV, IV, IV, IV, IV, IV, IV,
    /* C0 */ MR | IB, MR | IB, IW, 0, PF, PF, MR | IB, MR | IZ, IMM(I_ENTER), 0, IW, 0, 0, IB, U6, 0,
    /* D0 */ MR, MR, MR, MR, IB | U6, IB | U6, U6, 0, MR, MR, MR, MR, MR, MR, MR, MR,
    /* E0 */ IB, IB, IB, IB, IB, IB, IB, IB, IZ, IZ, IMM(I_FAR) | U6, IB, 0, 0, 0, 0,
    /* F0 */ PF, 0, PF, PF, 0, 0, MR, MR, 0, 0, 0, 0, 0, 0, MR, MR,
};

/* The 0F map.  0F B9 (UD1) and 0F FF (UD0) are two bytes long, as capstone
 * has them: they raise #UD whatever follows.  0F A6 and 0F A7 are VIA's
 * PadLock instructions (a ModRM byte), which capstone decodes. */
static const uint8_t TWO_BYTE[256] = {
    /* 00 */ MR, MR, MR, MR, UD, 0, 0, 0, 0, 0, UD, 0, UD, MR, 0, MR | IB,
    /* 10 */ MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR,
    /* 20 */ MR, MR, MR, MR, UD, UD, UD, UD, MR, MR, MR, MR, MR, MR, MR, MR,
    /* 30 */ 0, 0, 0, 0, 0, 0, UD, 0, PF, UD, PF, UD, UD, UD, UD, UD,
    /* 40 */ MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR,
    /* 50 */ MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR,
    /* 60 */ MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR,
    /* 70 */ MR | IB, MR | IB, MR | IB, MR | IB, MR, MR, MR, 0, MR, MR, UD, UD, MR, MR, MR, MR,
    /* 80 */ IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ,
    /* 90 */ MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR,
    /* A0 */ 0, 0, 0, MR, MR | IB, MR, MR, MR, 0, 0, 0, MR, MR | IB, MR, MR, MR,
    /* B0 */ MR, MR, MR, MR, MR, MR, MR, MR, MR, 0, MR | IB, MR, MR, MR, MR, MR,
    /* C0 */ MR, MR, MR | IB, MR, MR | IB, MR | IB, MR | IB, MR, 0, 0, 0, 0, 0, 0, 0, 0,
    /* D0 */ MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR,
    /* E0 */ MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR,
    /* F0 */ MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, MR, 0,
};

/* --- one instruction ---------------------------------------------------- */

typedef struct {
    const uint8_t *code;
    size_t available;        /* bytes from the instruction's start to the block's end */
    size_t at;               /* the next byte to read */
    int bits;                /* the code segment's: 16, 32 or 64 */
    int operand_size;        /* 16, 32 or 64 */
    int address_size;
    int opsize_prefix, rep_prefix, rex_w, rex_r;
} Cursor;

typedef struct {
    int length;
    int kind;
    int flags;
} Decoded;

static int next_byte(Cursor *c, uint8_t *out)
{
    if (c->at >= c->available || c->at >= MAX_INSN_BYTES)
        return 0;
    *out = c->code[c->at++];
    return 1;
}

static int skip(Cursor *c, size_t count)
{
    c->at += count;
    return c->at <= c->available && c->at <= MAX_INSN_BYTES;
}

static int peek(const Cursor *c, uint8_t *out)
{
    if (c->at >= c->available)
        return 0;
    *out = c->code[c->at];
    return 1;
}

/* The ModRM byte's SIB and displacement, after it.  ``register_only``: the
 * operand is a register whatever mod says (MOV to or from CRn/DRn). */
static int skip_modrm_operand(Cursor *c, uint8_t modrm, int register_only)
{
    int mod = modrm >> 6, rm = modrm & 7;
    if (mod == 3 || register_only)
        return 1;
    if (c->address_size == 16) {
        if (mod == 1)
            return skip(c, 1);
        if (mod == 2 || rm == 6)
            return skip(c, 2);
        return 1;
    }
    int base = rm;
    if (rm == 4) {
        uint8_t sib;
        if (!next_byte(c, &sib))
            return 0;
        base = sib & 7;
    }
    if (mod == 1)
        return skip(c, 1);
    if (mod == 2 || base == 5)  /* mod 0: rm 5 is disp32 (RIP-relative in 64-bit), as is SIB base 5 */
        return skip(c, 4);
    return 1;
}

static size_t immediate_bytes(const Cursor *c, int kind)
{
    switch (kind) {
    case I_B: return 1;
    case I_W: return 2;
    case I_Z: return c->operand_size == 16 ? 2 : 4;
    case I_V: return (size_t)c->operand_size / 8;
    case I_ENTER: return 3;
    case I_FAR: return c->operand_size == 16 ? 4 : 6;
    case I_MOFFS: return (size_t)c->address_size / 8;
    default: return 0;
    }
}

/* VEX (C4, C5) and EVEX (62): the prefix's payload, then opcode, ModRM and
 * imm8 by map: 0F3A always, and 0F 70-73 and C2/C4-C6 (SDM 2.3, 2.7). */
static int decode_vex(Cursor *c, uint8_t escape, Decoded *out)
{
    uint8_t payload[3], opcode, modrm;
    size_t payload_size = escape == 0xC5 ? 1 : escape == 0xC4 ? 2 : 3;
    for (size_t i = 0; i < payload_size; i++)
        if (!next_byte(c, &payload[i]))
            return 0;
    /* VEX: 0F, 0F38, 0F3A; EVEX adds maps 5 and 6 (AVX512-FP16), which take no imm8 */
    int map = escape == 0xC5 ? 1 : escape == 0xC4 ? payload[0] & 0x1F : payload[0] & 0x07;
    int known = (map >= 1 && map <= 3) || (escape == 0x62 && (map == 5 || map == 6));
    if (!known || !next_byte(c, &opcode))
        return 0;
    if (escape != 0x62 && map == 1 && opcode == 0x77)  /* VZEROUPPER, VZEROALL: no operands */
        return 1;
    if (!next_byte(c, &modrm))
        return 0;
    if ((modrm >> 6) != 3)
        out->flags |= FLAG_MEMORY;
    if (!skip_modrm_operand(c, modrm, 0))
        return 0;
    int imm8 = map == 3 || (map == 1 && ((opcode >= 0x70 && opcode <= 0x73) || opcode == 0xC2 ||
                                         (opcode >= 0xC4 && opcode <= 0xC6)));
    return imm8 ? skip(c, 1) : 1;
}

static void set_sizes(Cursor *c, int opsize_prefix, int address_prefix)
{
    if (c->bits == 64) {
        c->operand_size = c->rex_w ? 64 : opsize_prefix ? 16 : 32;
        c->address_size = address_prefix ? 32 : 64;
    } else {
        int other = c->bits == 16 ? 32 : 16;
        c->operand_size = opsize_prefix ? other : c->bits;
        c->address_size = address_prefix ? other : c->bits;
    }
}

/* What the one-byte map says beyond length: the kind and the flags. */
static void classify_one_byte(const Cursor *c, uint8_t opcode, uint8_t modrm, Decoded *out)
{
    int reg = modrm >> 3 & 7, memory_operand = (modrm >> 6) != 3;
    switch (opcode) {
    case 0x6C: case 0x6D: case 0x6E: case 0x6F:
        out->kind = KIND_PORT;
        out->flags |= FLAG_MEMORY;
        if (c->rep_prefix)
            out->flags |= FLAG_ENDS_BLOCK;
        return;
    case 0xE4: case 0xE5: case 0xE6: case 0xE7: case 0xEC: case 0xED: case 0xEE: case 0xEF:
        out->kind = KIND_PORT;
        return;
    case 0xF4:
        out->kind = KIND_HLT;
        out->flags |= FLAG_ENDS_BLOCK;
        return;
    case 0xA4: case 0xA5: case 0xA6: case 0xA7: case 0xAA: case 0xAB: case 0xAC: case 0xAD: case 0xAE: case 0xAF:
        out->flags |= FLAG_MEMORY | (c->rep_prefix ? FLAG_ENDS_BLOCK : 0);
        return;
    /* the stack, and far transfers */
    case 0x06: case 0x07: case 0x0E: case 0x16: case 0x17: case 0x1E: case 0x1F:
    case 0x60: case 0x61: case 0x68: case 0x6A: case 0x8F: case 0x9C: case 0x9D: case 0xC8: case 0xC9: case 0xD7:
    case 0xA0: case 0xA1: case 0xA2: case 0xA3:
        out->flags |= FLAG_MEMORY;
        return;
    case 0x9A: case 0xC2: case 0xC3: case 0xCA: case 0xCB: case 0xCC: case 0xCD: case 0xCE: case 0xCF: case 0xE8:
    case 0xEA: case 0xF1:
        out->flags |= FLAG_MEMORY | FLAG_ENDS_BLOCK;
        return;
    case 0xE0: case 0xE1: case 0xE2: case 0xE3: case 0xE9: case 0xEB: case 0xFB:
        out->flags |= FLAG_ENDS_BLOCK;
        return;
    case 0x8E:
        if (reg == 2)  /* MOV SS */
            out->flags |= FLAG_ENDS_BLOCK;
        break;
    case 0xFF:
        if (reg == 2 || reg == 3 || reg == 6)  /* CALL, CALL far, PUSH */
            out->flags |= FLAG_MEMORY;
        if (reg >= 2 && reg <= 5)
            out->flags |= FLAG_ENDS_BLOCK;
        break;
    default:
        if (opcode >= 0x50 && opcode <= 0x5F) {
            out->flags |= FLAG_MEMORY;
            return;
        }
        if (opcode >= 0x70 && opcode <= 0x7F) {
            out->flags |= FLAG_ENDS_BLOCK;
            return;
        }
    }
    if ((ONE_BYTE[opcode] & MR) && memory_operand)
        out->flags |= FLAG_MEMORY;
}

static int decode_two_byte(Cursor *c, Decoded *out)
{
    uint8_t opcode, modrm = 0, escape3;
    if (!next_byte(c, &opcode))
        return 0;
    uint8_t entry = TWO_BYTE[opcode];
    if (entry & UD)
        return 0;
    if (opcode == 0x38 || opcode == 0x3A) {
        if (!next_byte(c, &escape3) || !next_byte(c, &modrm))
            return 0;
        if ((modrm >> 6) != 3)
            out->flags |= FLAG_MEMORY;
        return skip_modrm_operand(c, modrm, 0) && (opcode == 0x38 || skip(c, 1));
    }
    if (entry & MR) {
        if (!next_byte(c, &modrm))
            return 0;
        int register_only = opcode >= 0x20 && opcode <= 0x23;
        if (!register_only && (modrm >> 6) != 3)
            out->flags |= FLAG_MEMORY;
        if (!skip_modrm_operand(c, modrm, register_only))
            return 0;
    }
    size_t immediate = immediate_bytes(c, IMM_OF(entry));
    /* INSERTQ, EXTRQ: imm8, imm8.  66 0F 78 in 16-bit code raises #UD (QEMU): capstone's length is kept. */
    if (opcode == 0x78 && (c->rep_prefix == 0xF2 || (c->opsize_prefix && c->bits != 16)))
        immediate = 2;
    if (!skip(c, immediate))
        return 0;
    int reg = modrm >> 3 & 7;
    if (opcode == 0x31)
        out->kind = KIND_RDTSC;
    else if (opcode == 0x01 && modrm == 0xF9)
        out->kind = KIND_RDTSCP;
    else if ((opcode >= 0x80 && opcode <= 0x8F) || opcode == 0x05 || opcode == 0x07 || opcode == 0x34 ||
             opcode == 0x35)
        out->flags |= FLAG_ENDS_BLOCK;
    else if (opcode == 0x22 && !c->rex_r && (reg == 0 || reg == 3 || reg == 4))  /* MOV CR0, CR3, CR4 */
        out->flags |= FLAG_ENDS_BLOCK;
    else if (opcode == 0xA0 || opcode == 0xA1 || opcode == 0xA8 || opcode == 0xA9)  /* PUSH, POP FS/GS */
        out->flags |= FLAG_MEMORY;
    return 1;
}

static int decode_one(const uint8_t *code, size_t available, int bits, Decoded *out)
{
    Cursor c = {.code = code, .available = available, .bits = bits};
    uint8_t opcode, modrm = 0;
    int address_prefix = 0;
    out->kind = KIND_OTHER;
    out->flags = 0;
    for (;;) {
        if (!next_byte(&c, &opcode))
            return 0;
        if (bits == 64 && (opcode & 0xF0) == 0x40) {  /* REX: counts only as the last prefix */
            c.rex_w = opcode >> 3 & 1;
            c.rex_r = opcode >> 2 & 1;
            continue;
        }
        if (!(ONE_BYTE[opcode] & PF) || opcode == 0x0F || opcode == 0x62 || opcode == 0xC4 || opcode == 0xC5)
            break;
        c.rex_w = c.rex_r = 0;
        if (opcode == 0x66)
            c.opsize_prefix = 1;
        else if (opcode == 0x67)
            address_prefix = 1;
        else if (opcode == 0xF2 || opcode == 0xF3)
            c.rep_prefix = opcode;
    }
    set_sizes(&c, c.opsize_prefix, address_prefix);
    uint8_t entry = ONE_BYTE[opcode];
    if ((entry & UD) || ((entry & U6) && bits == 64))
        return 0;
    if (opcode == 0x0F) {
        if (!decode_two_byte(&c, out))
            return 0;
        out->length = (int)c.at;
        return 1;
    }
    if (opcode == 0x62 || opcode == 0xC4 || opcode == 0xC5) {
        uint8_t following;
        if (!peek(&c, &following))
            return 0;
        if (bits == 64 || (following >> 6) == 3) {
            if (!decode_vex(&c, opcode, out))
                return 0;
            out->length = (int)c.at;
            return 1;
        }
        entry = MR;  /* BOUND, LES, LDS */
        out->flags |= FLAG_MEMORY;
    }
    if (entry & MR) {
        if (!next_byte(&c, &modrm) || !skip_modrm_operand(&c, modrm, 0))
            return 0;
    }
    int reg = modrm >> 3 & 7;
    size_t immediate = immediate_bytes(&c, IMM_OF(entry));
    if ((opcode == 0xF6 || opcode == 0xF7) && reg <= 1)  /* TEST r/m, imm (and its alias /1) */
        immediate = opcode == 0xF6 ? 1 : c.operand_size == 16 ? 2 : 4;
    if ((opcode == 0xFE && reg >= 2) || (opcode == 0xFF && reg == 7) ||
        ((opcode == 0xC6 || opcode == 0xC7) && reg != 0 && modrm != 0xF8))  /* all but XABORT, XBEGIN */
        return 0;
    if (!skip(&c, immediate))
        return 0;
    classify_one_byte(&c, opcode, modrm, out);
    out->length = (int)c.at;
    return 1;
}

/* --- the module function ------------------------------------------------ */

const char insn_decode_block_doc[] =
    "decode_block(code, address, bits): the instructions of a block of x86 code, as a tuple of\n"
    "(address, length, kind, flags), up to the first bytes that are undefined, cut off or too long\n"
    "(see harness/core/insn_decode.c); bits is the code segment's: 16, 32 or 64.";

PyObject *insn_decode_block(PyObject *module, PyObject *args)
{
    Py_buffer code;
    unsigned long long address;
    int bits;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*Ki", &code, &address, &bits))
        return NULL;
    if (bits != 16 && bits != 32 && bits != 64) {
        PyBuffer_Release(&code);
        PyErr_Format(PyExc_ValueError, "bits must be 16, 32 or 64, not %d", bits);
        return NULL;
    }
    PyObject *instructions = PyList_New(0);
    const uint8_t *bytes = code.buf;
    size_t size = (size_t)code.len, offset = 0;
    Decoded decoded;
    while (instructions != NULL && offset < size && decode_one(bytes + offset, size - offset, bits, &decoded)) {
        PyObject *item = Py_BuildValue("(Kiii)", (unsigned long long)(address + offset), decoded.length, decoded.kind,
                                       decoded.flags);
        if (item == NULL || PyList_Append(instructions, item) < 0)
            Py_CLEAR(instructions);
        Py_XDECREF(item);
        offset += (size_t)decoded.length;
    }
    PyBuffer_Release(&code);
    if (instructions == NULL)
        return NULL;
    PyObject *result = PyList_AsTuple(instructions);
    Py_DECREF(instructions);
    return result;
}
