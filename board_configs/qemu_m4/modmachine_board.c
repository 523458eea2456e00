// machine module functions of the QEMU_M4 board and its RTC (included by extmod/modmachine.c
// through MICROPY_PY_MACHINE_INCLUDEFILE, in place of ports/qemu/modmachine.c).
#include "shared/timeutils/timeutils.h"
#include "boards/QEMU_M4/board.h"

static void mp_machine_idle(void) {
    __asm volatile ("wfi");
}

static void mp_machine_reset(void) {
    board_reset();
}

static mp_int_t mp_machine_reset_cause(void) {
    return 0;
}

// machine.RTC: datetime() -> (year, month, day, weekday 0..6, hours, minutes, seconds,
// subseconds); datetime(tuple) sets it (the weekday is computed, whatever is given).
typedef struct {
    mp_obj_base_t base;
} machine_rtc_obj_t;

static const machine_rtc_obj_t machine_rtc_obj;

static mp_obj_t machine_rtc_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 1, false);
    return MP_OBJ_FROM_PTR(&machine_rtc_obj);
}

static mp_obj_t machine_rtc_datetime(size_t n_args, const mp_obj_t *args) {
    if (n_args == 1) {
        timeutils_struct_time_t tm;
        timeutils_seconds_since_2000_to_struct_time(board_rtc_seconds(), &tm);
        mp_obj_t tuple[8] = {
            mp_obj_new_int(tm.tm_year), mp_obj_new_int(tm.tm_mon), mp_obj_new_int(tm.tm_mday),
            mp_obj_new_int(tm.tm_wday), mp_obj_new_int(tm.tm_hour), mp_obj_new_int(tm.tm_min),
            mp_obj_new_int(tm.tm_sec), mp_obj_new_int(0),
        };
        return mp_obj_new_tuple(8, tuple);
    }
    mp_obj_t *items;
    mp_obj_get_array_fixed_n(args[1], 8, &items);
    board_rtc_set(timeutils_seconds_since_2000(mp_obj_get_int(items[0]), mp_obj_get_int(items[1]),
        mp_obj_get_int(items[2]), mp_obj_get_int(items[4]), mp_obj_get_int(items[5]),
        mp_obj_get_int(items[6])));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(machine_rtc_datetime_obj, 1, 2, machine_rtc_datetime);

static const mp_rom_map_elem_t machine_rtc_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_datetime), MP_ROM_PTR(&machine_rtc_datetime_obj) },
};
static MP_DEFINE_CONST_DICT(machine_rtc_locals_dict, machine_rtc_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    machine_rtc_type,
    MP_QSTR_RTC,
    MP_TYPE_FLAG_NONE,
    make_new, machine_rtc_make_new,
    locals_dict, &machine_rtc_locals_dict
    );

static const machine_rtc_obj_t machine_rtc_obj = {{&machine_rtc_type}};
