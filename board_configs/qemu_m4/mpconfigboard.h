// Settings of the concentrator's QEMU_M4 board, read by ports/qemu/mpconfigport.h before its own
// (which the patch makes defaults for what is set here).

// Concentrator code runs from the ROMFS region (VfsRom); rom_ioctl lets `mpremote romfs` and
// `conc flash` rewrite that region.
#define MICROPY_VFS_ROM_IOCTL       (1)
#define MICROPY_PY_ASYNCIO          (1)
#define MICROPY_PY_MACHINE_INCLUDEFILE "boards/QEMU_M4/modmachine_board.c"
#define MICROPY_PY_MACHINE_UART     (1)
#define MICROPY_PY_MACHINE_UART_INCLUDEFILE "boards/QEMU_M4/machine_uart.c"
#define MICROPY_PY_MACHINE_WDT      (1)
#define MICROPY_PY_MACHINE_WDT_INCLUDEFILE "boards/QEMU_M4/machine_wdt.c"
#define MICROPY_PY_MACHINE_EXTRA_GLOBALS \
    { MP_ROM_QSTR(MP_QSTR_RTC), MP_ROM_PTR(&machine_rtc_type) },
#define MICROPY_PY_TIME_GMTIME_LOCALTIME_MKTIME (1)
#define MICROPY_PY_TIME_TIME_TIME_NS (1)
#define MICROPY_PY_TIME_INCLUDEFILE "boards/QEMU_M4/modtime_board.c"
#define MICROPY_KBD_EXCEPTION       (1)
// Sleep until the next interrupt (SysTick every 1 ms, or a UART byte) instead of spinning:
// an idle board then costs its host next to no CPU.
#define MICROPY_INTERNAL_WFE(TIMEOUT_MS) __asm volatile ("wfi")

extern const struct _mp_obj_type_t machine_rtc_type;

// The board's hooks in the patched ports/qemu/main.c (board.c).
#define QEMU_BOARD_INIT board_init
#define QEMU_BOARD_BOOT board_boot
void board_init(void);
int board_boot(void);
