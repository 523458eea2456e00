// machine.WDT of the QEMU_M4 board: a watchdog counted by SysTick (board.c) that resets the
// machine when it is not fed in time; once started it cannot be stopped, as on a real MCU.
// Included by extmod/machine_wdt.c through MICROPY_PY_MACHINE_WDT_INCLUDEFILE.
#include "boards/QEMU_M4/board.h"

typedef struct _machine_wdt_obj_t {
    mp_obj_base_t base;
} machine_wdt_obj_t;

static machine_wdt_obj_t machine_wdt = {{&machine_wdt_type}};

static machine_wdt_obj_t *mp_machine_wdt_make_new_instance(mp_int_t id, mp_int_t timeout_ms) {
    if (id != 0) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("WDT(%d) doesn't exist"), id);
    }
    if (timeout_ms <= 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("WDT timeout must be positive"));
    }
    board_wdt_start(timeout_ms);
    return &machine_wdt;
}

static void mp_machine_wdt_feed(machine_wdt_obj_t *self) {
    (void)self;
    board_wdt_feed();
}
