// The QEMU_M4 board: reset, a millisecond clock that never wraps, the RTC, a
// software watchdog, the flash regions (ROMFS, filesystem, ring-log partition) and the boot
// sequence (mount, boot.py, main.py) that ports/qemu/main.c runs through patches/main.patch.
#include <string.h>

#include "py/runtime.h"
#include "py/gc.h"
#include "py/mperrno.h"
#include "py/objarray.h"
#include "extmod/vfs.h"
#include "extmod/vfs_lfs.h"
#include "extmod/vfs_rom.h"
#include "shared/runtime/interrupt_char.h"
#include "shared/runtime/pyexec.h"
#include "shared/timeutils/timeutils.h"
#include "boards/QEMU_M4/board.h"

// ---- reset ------------------------------------------------------------------------------
#define AIRCR (*(volatile uint32_t *)0xE000ED0C)

void board_reset(void) {
    AIRCR = 0x05FA0004;     // VECTKEY | SYSRESETREQ (ARMv7-M ARM B3.2.6)
    for (;;) {
    }
}

// ---- clock, RTC, watchdog ----------------------------------------------------------------
static volatile uint64_t ms64;
static int64_t rtc_offset_s;        // RTC seconds minus the host's seconds since 2000
static volatile uint64_t wdt_deadline;   // 0: watchdog not started
static uint32_t wdt_timeout_ms;

void board_systick(void) {
    ms64 += 1;
    if (wdt_deadline && ms64 > wdt_deadline) {
        board_reset();
    }
}

uint64_t board_ms64(void) {
    uint64_t a, b;
    do {    // two reads that agree: the interrupt did not split the 64-bit value
        a = ms64;
        b = ms64;
    } while (a != b);
    return a;
}

static int64_t host_time_2000(void);

// The RTC runs on the host's clock (plus what the firmware set it to), like a battery-backed
// RTC on its own crystal: the millisecond counter cannot carry it, because QEMU drops SysTick
// interrupts when its host is busy, and a clock counted from them falls behind (40 s in a
// minute was seen on a loaded 2-core machine).
int64_t board_rtc_seconds(void) {
    return host_time_2000() + rtc_offset_s;
}

// Nanoseconds since 1970 (MicroPython's convention for mp_hal_time_ns): file times in LittleFS.
uint64_t mp_hal_time_ns(void) {
    return (uint64_t)(board_rtc_seconds() + 946684800) * 1000000000ull;
}

void board_rtc_set(int64_t seconds) {
    rtc_offset_s = seconds - host_time_2000();
}

void board_wdt_start(uint32_t timeout_ms) {
    wdt_timeout_ms = timeout_ms;
    board_wdt_feed();
}

void board_wdt_feed(void) {
    wdt_deadline = board_ms64() + wdt_timeout_ms;
}

// The host's clock through semihosting SYS_TIME (ARM DUI 0471, operation 0x11: seconds since
// 1970 UTC), in seconds since 2000 (946684800 s later).
static int64_t host_time_2000(void) {
    register uint32_t r0 __asm__ ("r0") = 0x11;
    register uint32_t r1 __asm__ ("r1") = 0;
    __asm volatile ("bkpt 0xAB" : "+r" (r0) : "r" (r1) : "memory");
    return (int64_t)r0 - 946684800;
}

// ---- flash regions -----------------------------------------------------------------------
// The MPS2's 16 MB PSRAM at 0x21000000 (QEMU's machine RAM) stands in for the board's flash:
// `conc board run` backs it with a file (memory-backend-file), so it keeps its content across
// soft and hard resets and across runs. Erased flash reads 0xFF; a region is erased at the
// first power-on, which the magic word records.
#define FLASH_BASE (0x21000000u)
#define ROMFS_SIZE (0x100000u)
#define FS_BASE (FLASH_BASE + ROMFS_SIZE)
#define FS_SIZE (0x100000u)
#define RLOG_BASE (FS_BASE + FS_SIZE)
#define RLOG_SIZE (0x100000u)
#define MAGIC_ADDR ((volatile uint32_t *)(0x21FFF000u))
#define MAGIC (0x434f4e43u)          // "CONC"
#define BLOCK_SIZE (4096u)

void board_init(void) {
    if (*MAGIC_ADDR != MAGIC) {
        memset((void *)FLASH_BASE, 0xff, ROMFS_SIZE + FS_SIZE + RLOG_SIZE);
        *MAGIC_ADDR = MAGIC;
    }
}

typedef struct {
    mp_obj_base_t base;
    uint8_t *start;
    uint32_t size;
} partition_obj_t;

static const mp_obj_type_t partition_type;

// Partition(label): "vfs" is the filesystem, "rlog" the ring log's raw partition.
static mp_obj_t partition_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, 1, false);
    const char *label = mp_obj_str_get_str(args[0]);
    partition_obj_t *self = mp_obj_malloc(partition_obj_t, type);
    if (strcmp(label, "vfs") == 0) {
        self->start = (uint8_t *)FS_BASE;
        self->size = FS_SIZE;
    } else if (strcmp(label, "rlog") == 0) {
        self->start = (uint8_t *)RLOG_BASE;
        self->size = RLOG_SIZE;
    } else {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("no partition '%s' (vfs, rlog)"), label);
    }
    return MP_OBJ_FROM_PTR(self);
}

static uint8_t *partition_at(partition_obj_t *self, mp_int_t block, mp_int_t off, size_t len) {
    if (block < 0 || off < 0 || (uint64_t)block * BLOCK_SIZE + off + len > self->size) {
        mp_raise_ValueError(MP_ERROR_TEXT("access past the end of the partition"));
    }
    return self->start + block * BLOCK_SIZE + off;
}

static mp_obj_t partition_readblocks(size_t n_args, const mp_obj_t *args) {
    partition_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, MP_BUFFER_WRITE);
    mp_int_t off = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    memcpy(buf.buf, partition_at(self, mp_obj_get_int(args[1]), off, buf.len), buf.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(partition_readblocks_obj, 3, 4, partition_readblocks);

// NOR flash rules: programming only clears bits; without an offset the blocks are erased first
// (the simple block protocol).
static mp_obj_t partition_writeblocks(size_t n_args, const mp_obj_t *args) {
    partition_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, MP_BUFFER_READ);
    mp_int_t block = mp_obj_get_int(args[1]);
    bool erase = n_args < 4 || args[3] == mp_const_none;
    mp_int_t off = erase ? 0 : mp_obj_get_int(args[3]);
    uint8_t *dst = partition_at(self, block, off, buf.len);
    if (erase) {
        memset(dst, 0xff, (buf.len + BLOCK_SIZE - 1) / BLOCK_SIZE * BLOCK_SIZE);
    }
    const uint8_t *src = buf.buf;
    for (size_t i = 0; i < buf.len; ++i) {
        dst[i] &= src[i];
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(partition_writeblocks_obj, 3, 4, partition_writeblocks);

static mp_obj_t partition_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    partition_obj_t *self = MP_OBJ_TO_PTR(self_in);
    switch (mp_obj_get_int(op_in)) {
        case MP_BLOCKDEV_IOCTL_INIT:
        case MP_BLOCKDEV_IOCTL_DEINIT:
        case MP_BLOCKDEV_IOCTL_SYNC:
            return MP_OBJ_NEW_SMALL_INT(0);
        case MP_BLOCKDEV_IOCTL_BLOCK_COUNT:
            return MP_OBJ_NEW_SMALL_INT(self->size / BLOCK_SIZE);
        case MP_BLOCKDEV_IOCTL_BLOCK_SIZE:
            return MP_OBJ_NEW_SMALL_INT(BLOCK_SIZE);
        case MP_BLOCKDEV_IOCTL_BLOCK_ERASE:
            memset(partition_at(self, mp_obj_get_int(arg_in), 0, BLOCK_SIZE), 0xff, BLOCK_SIZE);
            return MP_OBJ_NEW_SMALL_INT(0);
        default:
            return mp_const_none;
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(partition_ioctl_obj, partition_ioctl);

static const mp_rom_map_elem_t partition_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&partition_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&partition_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&partition_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(partition_locals_dict, partition_locals_dict_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    partition_type,
    MP_QSTR_Partition,
    MP_TYPE_FLAG_NONE,
    make_new, partition_make_new,
    locals_dict, &partition_locals_dict
    );

// ---- heap high-water mark ---------------------------------------------------------------
// The live heap after every collection (what gc.mem_alloc() says once garbage is swept), its
// highest value since the last reset, and how many collections it has seen. With
// gc.threshold(T) a collection runs at least every T bytes allocated, so the true peak of live
// objects lies between this figure and this figure + T. (micropython.mem_peak() cannot say
// this: it counts what the collector frees as still allocated.)
static size_t heap_peak_live;
static size_t heap_collections;

void board_gc_collected(void) {
    gc_info_t info;
    gc_info(&info);
    heap_collections += 1;
    if (info.used > heap_peak_live) {
        heap_peak_live = info.used;
    }
}

// mps2.heap_peak(reset=False) -> (peak live bytes after a collection, collections counted)
static mp_obj_t mps2_heap_peak(size_t n_args, const mp_obj_t *args) {
    mp_obj_t items[2] = {
        mp_obj_new_int_from_uint(heap_peak_live), mp_obj_new_int_from_uint(heap_collections),
    };
    if (n_args > 0 && mp_obj_is_true(args[0])) {
        heap_peak_live = 0;
        heap_collections = 0;
    }
    return mp_obj_new_tuple(2, items);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mps2_heap_peak_obj, 0, 1, mps2_heap_peak);

// mps2.ctrl_c(): what the REPL UART's receive interrupt does with a Ctrl-C byte (uart_irq.c),
// at this instant: KeyboardInterrupt scheduled, raised at the next jump of the bytecode, unless
// micropython.kbd_intr(-1) holds Ctrl-C off. The host cannot place a byte between two given
// bytecodes; a test of code that must survive a Ctrl-C anywhere (the stop marker) can.
static mp_obj_t mps2_ctrl_c(void) {
    if (mp_interrupt_char == 3) {
        mp_sched_keyboard_interrupt();
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(mps2_ctrl_c_obj, mps2_ctrl_c);

static const mp_rom_map_elem_t mps2_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_mps2) },
    { MP_ROM_QSTR(MP_QSTR_Partition), MP_ROM_PTR(&partition_type) },
    { MP_ROM_QSTR(MP_QSTR_heap_peak), MP_ROM_PTR(&mps2_heap_peak_obj) },
    { MP_ROM_QSTR(MP_QSTR_ctrl_c), MP_ROM_PTR(&mps2_ctrl_c_obj) },
};
static MP_DEFINE_CONST_DICT(mps2_module_globals, mps2_module_globals_table);

const mp_obj_module_t mps2_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&mps2_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR_mps2, mps2_module);

// vfs.rom_ioctl over the ROMFS region: one segment, erased and programmed like the others.
mp_obj_t mp_vfs_rom_ioctl(size_t n_args, const mp_obj_t *args) {
    switch (mp_obj_get_int(args[0])) {
        case MP_VFS_ROM_IOCTL_GET_NUMBER_OF_SEGMENTS:
            return MP_OBJ_NEW_SMALL_INT(1);
        case MP_VFS_ROM_IOCTL_GET_SEGMENT:
            if (n_args < 2 || mp_obj_get_int(args[1]) != 0) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
            }
            return mp_obj_new_memoryview('B', ROMFS_SIZE, (void *)FLASH_BASE);
        case MP_VFS_ROM_IOCTL_WRITE_PREPARE: {
            if (n_args < 3 || mp_obj_get_int(args[1]) != 0) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
            }
            mp_uint_t len = mp_obj_get_int(args[2]);
            if (len > ROMFS_SIZE) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
            }
            memset((void *)FLASH_BASE, 0xff, (len + BLOCK_SIZE - 1) / BLOCK_SIZE * BLOCK_SIZE);
            return MP_OBJ_NEW_SMALL_INT(4);     // the smallest write, in bytes
        }
        case MP_VFS_ROM_IOCTL_WRITE: {
            if (n_args < 4 || mp_obj_get_int(args[1]) != 0) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
            }
            mp_uint_t off = mp_obj_get_int(args[2]);
            mp_buffer_info_t buf;
            mp_get_buffer_raise(args[3], &buf, MP_BUFFER_READ);
            if (off + buf.len > ROMFS_SIZE) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
            }
            uint8_t *dst = (uint8_t *)FLASH_BASE + off;
            const uint8_t *src = buf.buf;
            for (size_t i = 0; i < buf.len; ++i) {
                dst[i] &= src[i];
            }
            return MP_OBJ_NEW_SMALL_INT(0);
        }
        case MP_VFS_ROM_IOCTL_WRITE_COMPLETE:
            return MP_OBJ_NEW_SMALL_INT(0);
        default:
            return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
    }
}

// ---- boot --------------------------------------------------------------------------------
// The filesystem at / (formatted on first use, as an ESP32 does), the ROMFS at /rom when the
// region holds an image; then boot.py and, in the friendly REPL, main.py.
static void mount_filesystem(void) {
    mp_obj_t label = MP_OBJ_NEW_QSTR(MP_QSTR_vfs);
    mp_obj_t bdev = partition_make_new(&partition_type, 1, 0, &label);
    mp_obj_t lfs2 = MP_OBJ_FROM_PTR(&mp_type_vfs_lfs2);
    for (int attempt = 0; attempt < 2; ++attempt) {
        nlr_buf_t nlr;
        if (nlr_push(&nlr) == 0) {
            if (attempt) {
                mp_printf(&mp_plat_print, "MPY: formatting the filesystem\n");
                mp_call_function_1(mp_load_attr(lfs2, MP_QSTR_mkfs), bdev);
            }
            mp_obj_t vfs = mp_call_function_1(lfs2, bdev);
            mp_call_function_2(MP_OBJ_FROM_PTR(&mp_vfs_mount_obj), vfs, MP_OBJ_NEW_QSTR(MP_QSTR__slash_));
            nlr_pop();
            return;
        }
    }
    mp_printf(&mp_plat_print, "MPY: the filesystem does not mount\n");
}

int board_boot(void) {
    mount_filesystem();
    mp_vfs_mount_romfs_protected();
    int ret = pyexec_file_if_exists("boot.py");
    if (ret & PYEXEC_FORCED_EXIT) {
        return 1;
    }
    if (pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL) {
        ret = pyexec_file_if_exists("main.py");
        if (ret & PYEXEC_FORCED_EXIT) {
            return 1;
        }
    }
    return 0;
}
