/* pmtimer_harness.core._native: the virtual clock's hot path, in C.
 *
 * What it does.  Under the virtual clock Unicorn calls a hook at every
 * translation block and at every port instruction and TSC read.  In Python
 * (core/dispatch.py, VirtualDispatch) each call costs about 190 ns, more than
 * the guest's own work: a two-instruction delay loop runs 120 times slower
 * than bare Unicorn.  This module holds the counts virtual time is made of
 * (instructions retired, port accesses, idle time, the check point) in a C
 * object, ``Counts``, and registers C hooks through Unicorn's C API that do
 * the common cases without entering Python:
 *
 * - a block hook that counts a block the harness already knows (the same one
 *   again, or one decoded before), while the count is short of the check point;
 * - an IN hook that answers a read from a "time reader": a device whose read
 *   is a pure function of virtual time, (start + ticks(now_ns)) & mask with
 *   ticks(ns) = ns * numerator / denominator: the PM timer.
 *
 * Every other case (a new block, a check point, a re-entered block, any other
 * device, every OUT, every TSC read, a count too large for 64 bits) calls the
 * Python callback it was given, with the state untouched, and Python decides.
 * The Python dispatch reads and writes the same state through this object's
 * attributes, so there is one copy of it: that is how both paths give the
 * same counts and values, bit for bit.
 *
 * Why no Unicorn headers and no libunicorn at link time: the module must work
 * with whichever libunicorn the Python binding loaded, on every OS.  Python
 * hands it the engine handle and the addresses of uc_hook_add and uc_emu_stop
 * (ctypes), and the few prototypes and constants it needs are declared below
 * from unicorn 2.1's include/unicorn/unicorn.h and x86.h (native_hooks.py
 * checks the constants against the binding's).
 *
 * Threads: the binding calls uc_emu_start with the GIL released, so the C fast
 * paths touch no Python object, and a hook takes the GIL only to call Python.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

/* --- Unicorn's C API, as much as this module uses ----------------------- */

typedef void uc_engine;
typedef size_t uc_hook;
typedef int (*uc_hook_add_fn)(uc_engine *uc, uc_hook *hh, int type, void *callback, void *user_data,
                              uint64_t begin, uint64_t end, ...);
typedef int (*uc_emu_stop_fn)(uc_engine *uc);

#define UC_HOOK_INSN 2       /* 1 << 1 */
#define UC_HOOK_BLOCK 8      /* 1 << 3 */
#define UC_X86_INS_IN 218
#define UC_X86_INS_OUT 500
#define UC_X86_INS_RDTSC 608
#define UC_X86_INS_RDTSCP 609

/* The hooks' slow paths (calling Python) are kept out of line, so that the
 * fast paths need no stack frame. */
#if defined(_MSC_VER)
#define OUT_OF_LINE __declspec(noinline)
#else
#define OUT_OF_LINE __attribute__((noinline))
#endif

/* --- the state -------------------------------------------------------- */

#define MAX_HOOKED 16        /* port and TSC instructions a block may have and still be counted here */
#define CACHE_SLOTS 2048     /* known blocks kept, direct-mapped by address: a miss only costs a Python call */
#define MAX_TIME_READERS 8

/* A count Python may set to any int: one that does not fit 64 bits is kept
 * as a Python int in ``big``, and while any count but next_check is big every
 * hook defers to Python.  A big next_check keeps, in ``value``, the 64-bit
 * number nearest to it: compared with a 64-bit count, it gives the same
 * answer (NEVER, 2**127, is never reached). */
typedef struct {
    int64_t value;
    PyObject *big;
} Count;

/* What the hooks need of a block; ``block`` is the Python Block object. */
typedef struct {
    uint64_t address;
    uint64_t size;
    int64_t icount;
    int n_hooked;            /* -1: more than MAX_HOOKED, or indices out of range: Python places them */
    int32_t hooked[MAX_HOOKED];
    PyObject *block;         /* NULL: an empty cache slot */
} BlockInfo;

typedef struct {
    uint64_t key;            /* port << 3 | width, as core/bus.py's route_key */
    uint64_t start, numerator, denominator, mask;
    int narrow;              /* numerator * denominator < 2**64: 64-bit arithmetic is exact */
    int exact;               /* this build computes it exactly (else Python answers the read) */
} TimeReader;

typedef struct {
    PyObject_HEAD
    Count retired, port_accesses, port_writes, idle_ns, insn_ns, io_ns, next_check, ordinal;
    int big_counts;          /* how many counts but next_check are big */
    int64_t limit;           /* see update_limit */
    BlockInfo current;       /* current.block is borrowed: owned by the cache or by ``held`` */
    PyObject *held;          /* keeps the current block alive when no cache slot does */
    PyObject *hooked_big;    /* hooked_index as Python set it, when n_hooked is -1 */
    BlockInfo *cache;
    TimeReader readers[MAX_TIME_READERS];
    int n_readers;
    uc_engine *engine;
    uc_hook_add_fn hook_add;
    uc_emu_stop_fn emu_stop;
    PyObject *on_block, *on_in, *on_out, *on_rdtsc, *on_rdtscp;
    PyObject *error;         /* the first exception a Python callback let out */
} Counts;

#define COUNTS_MEMBERS(X) \
    X(retired) X(port_accesses) X(port_writes) X(idle_ns) X(insn_ns) X(io_ns) X(next_check) X(ordinal)

/* --- arithmetic that says when it cannot be exact ----------------------- */

static int add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    *out = a + b;
    return *out >= a;
}

static int mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

#if defined(__SIZEOF_INT128__)
#define WIDE_PRODUCTS 1
#else
#define WIDE_PRODUCTS 0  /* MSVC, 32-bit targets: readers that need 128 bits go to Python */
#endif

/* floor(r * numerator / denominator) for r < denominator: less than numerator, so it fits. */
static uint64_t scaled(const TimeReader *reader, uint64_t r)
{
#if WIDE_PRODUCTS
    if (!reader->narrow)
        return (uint64_t)((unsigned __int128)r * reader->numerator / reader->denominator);
#endif
    return r * reader->numerator / reader->denominator;
}

/* (start + now_ns * numerator // denominator) & mask, for every 64-bit now_ns.
 * now_ns = q * denominator + r splits the product: q * numerator is only
 * needed modulo 2**64 (mask < 2**64), and r * numerator / denominator is
 * computed exactly (scaled). */
static uint64_t time_value(const TimeReader *reader, uint64_t now_ns)
{
    uint64_t q = now_ns / reader->denominator, r = now_ns % reader->denominator;
    uint64_t ticks = q * reader->numerator + scaled(reader, r);
    return (reader->start + ticks) & reader->mask;
}

/* VirtualClock.now_ns at the access placed ``before`` instructions into the
 * current block; 0 if a count is negative or the sum passes 64 bits. */
static int access_time(Counts *self, int32_t before, uint64_t *now_ns)
{
    int64_t retired = self->retired.value;
    uint64_t insn, io, instructions;
    if (retired < 0 || self->port_accesses.value < 0 || self->idle_ns.value < 0 || self->insn_ns.value < 0 ||
        self->io_ns.value < 0)
        return 0;
    return add_u64((uint64_t)retired, (uint64_t)before, &instructions) &&
           mul_u64(instructions, (uint64_t)self->insn_ns.value, &insn) &&
           mul_u64((uint64_t)self->port_accesses.value, (uint64_t)self->io_ns.value, &io) &&
           add_u64(insn, io, now_ns) && add_u64(*now_ns, (uint64_t)self->idle_ns.value, now_ns);
}

/* --- calling Python from a hook ------------------------------------------ */

/* A callback that raises breaks its contract (the dispatch latches errors
 * and never raises): keep the first exception and stop the CPU. */
static void latch_error(Counts *self)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL && value != NULL)
        PyException_SetTraceback(value, traceback);
    if (self->error == NULL && value != NULL) {
        self->error = value;
        value = NULL;
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    self->emu_stop(self->engine);
}

/* Call ``callback`` with the GIL; returns its result as an unsigned 64-bit
 * value (truncated, as a C hook's return is), or 0 if it raised. */
static uint64_t call_python(Counts *self, PyObject *callback, PyObject *args)
{
    uint64_t result = 0;
    if (callback == NULL) {  /* cleared by the garbage collector: nobody is listening */
        Py_XDECREF(args);
        return 0;
    }
    if (args == NULL) {
        latch_error(self);
        return 0;
    }
    PyObject *value = PyObject_Call(callback, args, NULL);
    Py_DECREF(args);
    if (value == NULL) {
        latch_error(self);
        return 0;
    }
    if (value != Py_None) {
        result = PyLong_AsUnsignedLongLongMask(value);
        if (result == (uint64_t)-1 && PyErr_Occurred())
            latch_error(self);
    }
    Py_DECREF(value);
    return result;
}

/* --- the hooks ---------------------------------------------------------- */

/* Python callbacks take the arguments the binding's ctypes hooks do (engine,
 * ..., user data), so that one method serves a ctypes hook and this module. */
#define ENGINE(self) ((unsigned long long)(uintptr_t)(self)->engine)

static BlockInfo *cache_slot(Counts *self, uint64_t address)
{
    return &self->cache[(address ^ (address >> 11) ^ (address >> 22)) & (CACHE_SLOTS - 1)];
}

/* The count below which the current block may be counted here: counting it
 * then stays short of the check point (and of 2**63).  Kept up to date by
 * whatever changes the check point, the current block or a count's size. */
static void update_limit(Counts *self)
{
    int64_t next_check = self->next_check.value, icount = self->current.icount;
    self->limit = self->big_counts || next_check < INT64_MIN + icount ? INT64_MIN : next_check - icount;
}

/* VirtualDispatch.on_block's common case: the block runs again, or a known
 * block follows, and the check point is not reached.  Anything else is
 * Python's, with nothing changed. */
static int block_counted_here(Counts *self, uint64_t address, uint32_t size)
{
    BlockInfo *current = &self->current;
    int64_t retired = self->retired.value;
    if (retired >= self->limit)
        return 0;
    if (current->address != address || current->size != size) {
        if (current->address <= address && address - current->address < current->size)
            return 0;  /* back inside the block that ran: Python looks for an unheard store */
        BlockInfo *known = cache_slot(self, address);
        if (known->block == NULL || known->address != address || known->size != size)
            return 0;
        self->retired.value = retired + current->icount;
        *current = *known;
        update_limit(self);
    } else {
        self->retired.value = retired + current->icount;
    }
    self->ordinal.value = 0;
    return 1;
}

static OUT_OF_LINE void block_to_python(Counts *self, uint64_t address, uint32_t size)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    call_python(self, self->on_block, Py_BuildValue("(KKIi)", ENGINE(self), (unsigned long long)address, size, 0));
    PyGILState_Release(gil);
}

static void hook_block(uc_engine *engine, uint64_t address, uint32_t size, void *user)
{
    if (!block_counted_here(user, address, size))
        block_to_python(user, address, size);
}

static TimeReader *time_reader(Counts *self, uint64_t key)
{
    for (int i = 0; i < self->n_readers; i++)
        if (self->readers[i].key == key)
            return &self->readers[i];
    return NULL;
}

/* VirtualDispatch.on_in for a time reader, placed in its block. */
static int read_here(Counts *self, uint32_t port, int width, uint32_t *value)
{
    TimeReader *reader = time_reader(self, (uint64_t)port << 3 | (uint64_t)width);
    int64_t ordinal = self->ordinal.value;
    uint64_t now_ns;
    if (reader == NULL || !reader->exact || self->big_counts || ordinal < 0 || ordinal >= self->current.n_hooked ||
        self->port_accesses.value == INT64_MAX)
        return 0;
    if (!access_time(self, self->current.hooked[ordinal], &now_ns))
        return 0;
    *value = (uint32_t)time_value(reader, now_ns);
    self->ordinal.value = ordinal + 1;
    self->port_accesses.value += 1;
    return 1;
}

static OUT_OF_LINE uint32_t read_in_python(Counts *self, uint32_t port, int width)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    uint32_t value = (uint32_t)call_python(self, self->on_in, Py_BuildValue("(KIii)", ENGINE(self), port, width, 0));
    PyGILState_Release(gil);
    return value;
}

static uint32_t hook_in(uc_engine *engine, uint32_t port, int width, void *user)
{
    uint32_t value;
    if (read_here(user, port, width, &value))
        return value;
    return read_in_python(user, port, width);
}

static void hook_out(uc_engine *engine, uint32_t port, int width, uint32_t value, void *user)
{
    Counts *self = user;
    PyGILState_STATE gil = PyGILState_Ensure();
    call_python(self, self->on_out, Py_BuildValue("(KIiIi)", ENGINE(self), port, width, value, 0));
    PyGILState_Release(gil);
}

/* RDTSC and RDTSCP: Python reads the virtual TSC into EDX:EAX and returns 1 (skip the native read). */
static int hook_tsc(Counts *self, PyObject *callback)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    int skip = (int)call_python(self, callback, Py_BuildValue("(Ki)", ENGINE(self), 0));
    PyGILState_Release(gil);
    return skip;
}

static int hook_rdtsc(uc_engine *engine, void *user)
{
    return hook_tsc(user, ((Counts *)user)->on_rdtsc);
}

static int hook_rdtscp(uc_engine *engine, void *user)
{
    return hook_tsc(user, ((Counts *)user)->on_rdtscp);
}

/* --- registering the hooks ---------------------------------------------- */

static int uc_add(Counts *self, int type, void *callback, int instruction)
{
    uc_hook handle;
    if (instruction < 0)
        return self->hook_add(self->engine, &handle, type, callback, self, 1, 0);
    return self->hook_add(self->engine, &handle, type, callback, self, 1, 0, instruction);
}

static int need_attached(Counts *self)
{
    if (self->hook_add == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "attach() the engine first");
        return 0;
    }
    return 1;
}

static int need_callable(PyObject *callback)
{
    if (!PyCallable_Check(callback)) {
        PyErr_SetString(PyExc_TypeError, "a hook needs a callable");
        return 0;
    }
    return 1;
}

PyDoc_STRVAR(attach_doc, "attach(engine, uc_hook_add, uc_emu_stop): the engine handle and the two functions' addresses.");

static PyObject *Counts_attach(Counts *self, PyObject *args)
{
    unsigned long long engine, hook_add, emu_stop;
    if (!PyArg_ParseTuple(args, "KKK", &engine, &hook_add, &emu_stop))
        return NULL;
    if (engine == 0 || hook_add == 0 || emu_stop == 0) {
        PyErr_SetString(PyExc_ValueError, "a null engine or function address");
        return NULL;
    }
    self->engine = (uc_engine *)(uintptr_t)engine;
    self->hook_add = (uc_hook_add_fn)(uintptr_t)hook_add;
    self->emu_stop = (uc_emu_stop_fn)(uintptr_t)emu_stop;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(hook_block_doc, "hook_block(on_block): count blocks here; on_block(engine, address, size, user) gets the rest. "
                             "Returns Unicorn's error code.");

static PyObject *Counts_hook_block(Counts *self, PyObject *on_block)
{
    if (!need_attached(self) || !need_callable(on_block))
        return NULL;
    Py_XSETREF(self->on_block, Py_NewRef(on_block));
    return PyLong_FromLong(uc_add(self, UC_HOOK_BLOCK, (void *)hook_block, -1));
}

PyDoc_STRVAR(hook_ports_doc, "hook_ports(on_in, on_out): answer time readers here; on_in(engine, port, width, user) "
                             "-> value and on_out(engine, port, width, value, user) get the rest.  Returns Unicorn's "
                             "error code.");

static PyObject *Counts_hook_ports(Counts *self, PyObject *args)
{
    PyObject *on_in, *on_out;
    int status;
    if (!PyArg_ParseTuple(args, "OO", &on_in, &on_out) || !need_attached(self) || !need_callable(on_in) ||
        !need_callable(on_out))
        return NULL;
    Py_XSETREF(self->on_in, Py_NewRef(on_in));
    Py_XSETREF(self->on_out, Py_NewRef(on_out));
    status = uc_add(self, UC_HOOK_INSN, (void *)hook_in, UC_X86_INS_IN);
    if (status == 0)
        status = uc_add(self, UC_HOOK_INSN, (void *)hook_out, UC_X86_INS_OUT);
    return PyLong_FromLong(status);
}

PyDoc_STRVAR(hook_tsc_doc, "hook_tsc(on_rdtsc, on_rdtscp): each is called with (engine, user) as the instruction "
                           "runs and returns 1 to skip the native read.  Returns Unicorn's error code.");

static PyObject *Counts_hook_tsc(Counts *self, PyObject *args)
{
    PyObject *on_rdtsc, *on_rdtscp;
    int status;
    if (!PyArg_ParseTuple(args, "OO", &on_rdtsc, &on_rdtscp) || !need_attached(self) || !need_callable(on_rdtsc) ||
        !need_callable(on_rdtscp))
        return NULL;
    Py_XSETREF(self->on_rdtsc, Py_NewRef(on_rdtsc));
    Py_XSETREF(self->on_rdtscp, Py_NewRef(on_rdtscp));
    status = uc_add(self, UC_HOOK_INSN, (void *)hook_rdtsc, UC_X86_INS_RDTSC);
    if (status == 0)
        status = uc_add(self, UC_HOOK_INSN, (void *)hook_rdtscp, UC_X86_INS_RDTSCP);
    return PyLong_FromLong(status);
}

/* --- blocks: what Python tells the hooks -------------------------------- */

static int read_u64(PyObject *object, const char *name, uint64_t *out)
{
    PyObject *value = PyObject_GetAttrString(object, name);
    if (value == NULL)
        return 0;
    *out = PyLong_AsUnsignedLongLong(value);
    Py_DECREF(value);
    return !(*out == (uint64_t)-1 && PyErr_Occurred());
}

/* Fill ``info`` from a sequence of indices; n_hooked is -1 where C cannot hold them. */
static int read_hooked(PyObject *hooked_index, BlockInfo *info)
{
    PyObject *items = PySequence_Fast(hooked_index, "hooked_index must be a sequence");
    if (items == NULL)
        return 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    info->n_hooked = n <= MAX_HOOKED ? (int)n : -1;
    for (Py_ssize_t i = 0; i < n && info->n_hooked >= 0; i++) {
        long long index = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(items, i));
        if (index == -1 && PyErr_Occurred()) {
            Py_DECREF(items);
            return 0;
        }
        if (index < 0 || index > INT32_MAX)
            info->n_hooked = -1;
        else
            info->hooked[i] = (int32_t)index;
    }
    Py_DECREF(items);
    return 1;
}

/* A Block's address, size, icount and hooked_index (core/blocks.py). */
static int read_block(PyObject *block, BlockInfo *info)
{
    uint64_t icount;
    PyObject *hooked_index;
    if (!read_u64(block, "address", &info->address) || !read_u64(block, "size", &info->size) ||
        !read_u64(block, "icount", &icount))
        return 0;
    if (icount > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a block's icount must be below 2**31");
        return 0;
    }
    info->icount = (int64_t)icount;
    hooked_index = PyObject_GetAttrString(block, "hooked_index");
    if (hooked_index == NULL)
        return 0;
    int ok = read_hooked(hooked_index, info);
    Py_DECREF(hooked_index);
    info->block = block;
    return ok;
}

/* Empty a cache slot; if it held the current block, ``held`` takes over its reference. */
static void drop_slot(Counts *self, BlockInfo *slot)
{
    PyObject *block = slot->block;
    if (block == NULL)
        return;
    slot->block = NULL;
    if (block == self->current.block)
        Py_XSETREF(self->held, block);
    else
        Py_DECREF(block);
}

PyDoc_STRVAR(remember_doc, "remember(block): a decoded block the block hook may count without asking Python.");

static PyObject *Counts_remember(Counts *self, PyObject *block)
{
    BlockInfo info;
    if (!read_block(block, &info))
        return NULL;
    BlockInfo *slot = cache_slot(self, info.address);
    drop_slot(self, slot);
    if (info.n_hooked < 0)
        Py_RETURN_NONE;  /* too many hooked instructions: Python counts this block */
    *slot = info;
    Py_INCREF(block);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(forget_doc, "forget(address): the block decoded at address is gone (its code changed).");

static PyObject *Counts_forget(Counts *self, PyObject *address)
{
    uint64_t at = PyLong_AsUnsignedLongLongMask(address);
    if (at == (uint64_t)-1 && PyErr_Occurred())
        return NULL;
    BlockInfo *slot = cache_slot(self, at);
    if (slot->block != NULL && slot->address == at)
        drop_slot(self, slot);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(forget_all_doc, "forget_all(): every decoded block is gone.");

static PyObject *Counts_forget_all(Counts *self, PyObject *Py_UNUSED(ignored))
{
    for (int i = 0; i < CACHE_SLOTS; i++)
        drop_slot(self, &self->cache[i]);
    Py_RETURN_NONE;
}

/* --- attributes -------------------------------------------------------- */

static Count *count_at(Counts *self, void *offset)
{
    return (Count *)((char *)self + (size_t)(uintptr_t)offset);
}

static PyObject *get_count(Counts *self, void *offset)
{
    Count *count = count_at(self, offset);
    if (count->big != NULL)
        return Py_NewRef(count->big);
    return PyLong_FromLongLong(count->value);
}

static int set_count(Counts *self, PyObject *value, void *offset)
{
    Count *count = count_at(self, offset);
    int overflow;
    if (value == NULL || !PyLong_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "a count is an int");
        return -1;
    }
    long long small = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (small == -1 && PyErr_Occurred())
        return -1;
    int counted = count != &self->next_check;
    self->big_counts -= counted && count->big != NULL;
    Py_CLEAR(count->big);
    if (overflow) {
        count->big = Py_NewRef(value);
        self->big_counts += counted;
    }
    count->value = overflow > 0 ? INT64_MAX : overflow < 0 ? INT64_MIN : small;
    update_limit(self);
    return 0;
}

static PyObject *get_block(Counts *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->current.block);
}

static int set_block(Counts *self, PyObject *block, void *Py_UNUSED(closure))
{
    BlockInfo info;
    if (block == NULL) {
        PyErr_SetString(PyExc_TypeError, "the current block cannot be deleted");
        return -1;
    }
    if (!read_block(block, &info))
        return -1;
    Py_XSETREF(self->hooked_big, info.n_hooked < 0 ? PyObject_GetAttrString(block, "hooked_index") : NULL);
    if (info.n_hooked < 0 && self->hooked_big == NULL)
        return -1;
    Py_XSETREF(self->held, Py_NewRef(block));
    self->current = info;
    update_limit(self);
    return 0;
}

static PyObject *get_hooked_index(Counts *self, void *Py_UNUSED(closure))
{
    if (self->current.n_hooked < 0)
        return Py_NewRef(self->hooked_big);
    PyObject *indices = PyTuple_New(self->current.n_hooked);
    for (int i = 0; indices != NULL && i < self->current.n_hooked; i++) {
        PyObject *index = PyLong_FromLong(self->current.hooked[i]);
        if (index == NULL) {
            Py_CLEAR(indices);
            break;
        }
        PyTuple_SET_ITEM(indices, i, index);
    }
    return indices;
}

static int set_hooked_index(Counts *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "hooked_index cannot be deleted");
        return -1;
    }
    if (!read_hooked(value, &self->current))
        return -1;
    Py_XSETREF(self->hooked_big, self->current.n_hooked < 0 ? Py_NewRef(value) : NULL);
    return 0;
}

static PyObject *get_time_readers(Counts *self, void *Py_UNUSED(closure))
{
    PyObject *readers = PyTuple_New(self->n_readers);
    for (int i = 0; readers != NULL && i < self->n_readers; i++) {
        TimeReader *r = &self->readers[i];
        PyObject *item = Py_BuildValue("(KKKKK)", r->key, r->start, r->numerator, r->denominator, r->mask);
        if (item == NULL) {
            Py_CLEAR(readers);
            break;
        }
        PyTuple_SET_ITEM(readers, i, item);
    }
    return readers;
}

/* One (route key, start, numerator, denominator, mask) tuple; ``exact`` says whether time_value can serve it. */
static int read_time_reader(PyObject *item, TimeReader *reader)
{
    uint64_t product;
    if (!PyArg_ParseTuple(item, "KKKKK;a time reader is (key, start, numerator, denominator, mask)", &reader->key,
                          &reader->start, &reader->numerator, &reader->denominator, &reader->mask))
        return 0;
    if (reader->denominator == 0) {
        PyErr_SetString(PyExc_ValueError, "a time reader's denominator must be more than 0");
        return 0;
    }
    reader->narrow = mul_u64(reader->numerator, reader->denominator, &product);
    reader->exact = reader->narrow || WIDE_PRODUCTS;
    return 1;
}

static int set_time_readers(Counts *self, PyObject *value, void *Py_UNUSED(closure))
{
    TimeReader readers[MAX_TIME_READERS];
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "time_readers cannot be deleted");
        return -1;
    }
    PyObject *items = PySequence_Fast(value, "time_readers must be a sequence");
    if (items == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    int ok = n <= MAX_TIME_READERS;
    if (!ok)
        PyErr_Format(PyExc_ValueError, "at most %d time readers", MAX_TIME_READERS);
    for (Py_ssize_t i = 0; ok && i < n; i++)
        ok = read_time_reader(PySequence_Fast_GET_ITEM(items, i), &readers[i]);
    Py_DECREF(items);
    if (!ok)
        return -1;
    memcpy(self->readers, readers, sizeof(readers));
    self->n_readers = (int)n;
    return 0;
}

static PyObject *get_error(Counts *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->error != NULL ? self->error : Py_None);
}

static int set_error(Counts *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value != NULL && value != Py_None) {
        PyErr_SetString(PyExc_ValueError, "error can only be cleared (set to None)");
        return -1;
    }
    Py_CLEAR(self->error);
    return 0;
}

#define COUNT_GETSET(name) \
    {#name, (getter)get_count, (setter)set_count, NULL, (void *)offsetof(Counts, name)},

static PyGetSetDef Counts_getset[] = {
    COUNTS_MEMBERS(COUNT_GETSET)
    {"block", (getter)get_block, (setter)set_block, "the block running now (a core.blocks.Block)", NULL},
    {"hooked_index", (getter)get_hooked_index, (setter)set_hooked_index,
     "for each port instruction and TSC read of the current block, the instructions before it", NULL},
    {"time_readers", (getter)get_time_readers, (setter)set_time_readers,
     "reads answered here: (port << 3 | width, start, numerator, denominator, mask), at most 8 "
     "(one whose arithmetic needs 128 bits where the compiler has none is left to Python)", NULL},
    {"error", (getter)get_error, (setter)set_error, "the first exception a Python callback let out, or None", NULL},
    {NULL},
};

/* --- the type and the module -------------------------------------------- */

static PyObject *Counts_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwargs))
{
    Counts *self = (Counts *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->cache = PyMem_Calloc(CACHE_SLOTS, sizeof(BlockInfo));
    if (self->cache == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->held = Py_NewRef(Py_None);
    self->current.block = Py_None;
    update_limit(self);
    return (PyObject *)self;
}

/* Counts(insn_ns=0, io_ns=0, next_check=NEVER), as core/timekeeping.py's Counts. */
static int Counts_init(Counts *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"insn_ns", "io_ns", "next_check", NULL};
    PyObject *insn_ns = NULL, *io_ns = NULL, *next_check = NULL, *never = NULL;
    int status = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOO:Counts", keywords, &insn_ns, &io_ns, &next_check))
        return -1;
    if (next_check == NULL) {
        PyObject *one = PyLong_FromLong(1), *bits = PyLong_FromLong(127);
        never = one && bits ? PyNumber_Lshift(one, bits) : NULL;  /* NEVER: 2**127 */
        Py_XDECREF(one);
        Py_XDECREF(bits);
        if (never == NULL)
            return -1;
    }
    if ((insn_ns != NULL && set_count(self, insn_ns, (void *)offsetof(Counts, insn_ns)) < 0) ||
        (io_ns != NULL && set_count(self, io_ns, (void *)offsetof(Counts, io_ns)) < 0) ||
        set_count(self, next_check ? next_check : never, (void *)offsetof(Counts, next_check)) < 0)
        status = -1;
    Py_XDECREF(never);
    return status;
}

static int Counts_traverse(Counts *self, visitproc visit, void *arg)
{
    Py_VISIT(self->held);
    Py_VISIT(self->hooked_big);
    Py_VISIT(self->on_block);
    Py_VISIT(self->on_in);
    Py_VISIT(self->on_out);
    Py_VISIT(self->on_rdtsc);
    Py_VISIT(self->on_rdtscp);
    Py_VISIT(self->error);
    for (int i = 0; self->cache != NULL && i < CACHE_SLOTS; i++)
        Py_VISIT(self->cache[i].block);
    return 0;
}

/* Drops the callbacks (the cycle back to the dispatch), not the state: a hook may still run. */
static int Counts_clear(Counts *self)
{
    Py_CLEAR(self->on_block);
    Py_CLEAR(self->on_in);
    Py_CLEAR(self->on_out);
    Py_CLEAR(self->on_rdtsc);
    Py_CLEAR(self->on_rdtscp);
    Py_CLEAR(self->error);
    return 0;
}

#define COUNT_CLEAR(name) Py_CLEAR(self->name.big);

static void Counts_dealloc(Counts *self)
{
    PyObject_GC_UnTrack(self);
    Counts_clear(self);
    COUNTS_MEMBERS(COUNT_CLEAR)
    if (self->cache != NULL) {
        self->current.block = NULL;  /* so that drop_slot hands nothing to ``held`` */
        for (int i = 0; i < CACHE_SLOTS; i++)
            drop_slot(self, &self->cache[i]);
        PyMem_Free(self->cache);
    }
    Py_CLEAR(self->held);
    Py_CLEAR(self->hooked_big);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Counts_methods[] = {
    {"attach", (PyCFunction)Counts_attach, METH_VARARGS, attach_doc},
    {"hook_block", (PyCFunction)Counts_hook_block, METH_O, hook_block_doc},
    {"hook_ports", (PyCFunction)Counts_hook_ports, METH_VARARGS, hook_ports_doc},
    {"hook_tsc", (PyCFunction)Counts_hook_tsc, METH_VARARGS, hook_tsc_doc},
    {"remember", (PyCFunction)Counts_remember, METH_O, remember_doc},
    {"forget", (PyCFunction)Counts_forget, METH_O, forget_doc},
    {"forget_all", (PyCFunction)Counts_forget_all, METH_NOARGS, forget_all_doc},
    {NULL},
};

PyDoc_STRVAR(Counts_doc, "The counts virtual time is made of, and the C hooks that keep them (see native.c).");

static PyTypeObject CountsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pmtimer_harness.core._native.Counts",
    .tp_basicsize = sizeof(Counts),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = Counts_doc,
    .tp_new = Counts_new,
    .tp_init = (initproc)Counts_init,
    .tp_traverse = (traverseproc)Counts_traverse,
    .tp_clear = (inquiry)Counts_clear,
    .tp_dealloc = (destructor)Counts_dealloc,
    .tp_methods = Counts_methods,
    .tp_getset = Counts_getset,
};

PyDoc_STRVAR(time_read_doc, "time_read(start, numerator, denominator, mask, now_ns): what the IN hook answers "
                            "for a time reader at now_ns (for tests).");

static PyObject *native_time_read(PyObject *module, PyObject *args)
{
    TimeReader reader = {0};
    unsigned long long now_ns;
    PyObject *fields;
    if (!PyArg_ParseTuple(args, "KKKKK", &reader.start, &reader.numerator, &reader.denominator, &reader.mask,
                          &now_ns))
        return NULL;
    fields = Py_BuildValue("(KKKKK)", 0ULL, reader.start, reader.numerator, reader.denominator, reader.mask);
    if (fields == NULL)
        return NULL;
    int ok = read_time_reader(fields, &reader);
    Py_DECREF(fields);
    if (!ok)
        return NULL;
    if (!reader.exact) {
        PyErr_SetString(PyExc_ValueError, "numerator * denominator needs 128 bits, which this build has not");
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(time_value(&reader, now_ns));
}

/* insn_decode.c: instruction lengths for core/blocks.py */
PyObject *insn_decode_block(PyObject *module, PyObject *args);
extern const char insn_decode_block_doc[];

static PyMethodDef native_methods[] = {
    {"time_read", native_time_read, METH_VARARGS, time_read_doc},
    {"decode_block", insn_decode_block, METH_VARARGS, insn_decode_block_doc},
    {NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pmtimer_harness.core._native",
    .m_doc = "The virtual clock's hot path in C: see harness/core/native.c.",
    .m_size = -1,
    .m_methods = native_methods,
};

PyMODINIT_FUNC PyInit__native(void)
{
    if (PyType_Ready(&CountsType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&native_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObject(module, "Counts", Py_NewRef((PyObject *)&CountsType)) < 0 ||
        PyModule_AddIntConstant(module, "UC_HOOK_INSN", UC_HOOK_INSN) < 0 ||
        PyModule_AddIntConstant(module, "UC_HOOK_BLOCK", UC_HOOK_BLOCK) < 0 ||
        PyModule_AddIntConstant(module, "UC_X86_INS_IN", UC_X86_INS_IN) < 0 ||
        PyModule_AddIntConstant(module, "UC_X86_INS_OUT", UC_X86_INS_OUT) < 0 ||
        PyModule_AddIntConstant(module, "UC_X86_INS_RDTSC", UC_X86_INS_RDTSC) < 0 ||
        PyModule_AddIntConstant(module, "UC_X86_INS_RDTSCP", UC_X86_INS_RDTSCP) < 0 ||
        PyModule_AddIntConstant(module, "MAX_HOOKED", MAX_HOOKED) < 0 ||
        PyModule_AddIntConstant(module, "MAX_TIME_READERS", MAX_TIME_READERS) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
