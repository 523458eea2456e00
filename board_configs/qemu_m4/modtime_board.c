// time.localtime() and time.time() of the QEMU_M4 board, from its RTC (board.c), included by
// extmod/modtime.c through MICROPY_PY_TIME_INCLUDEFILE.
#include "shared/timeutils/timeutils.h"
#include "boards/QEMU_M4/board.h"

static void mp_time_localtime_get(timeutils_struct_time_t *tm) {
    timeutils_seconds_since_2000_to_struct_time(board_rtc_seconds(), tm);
}

static mp_obj_t mp_time_time_get(void) {
    return timeutils_obj_from_timestamp(board_rtc_seconds());
}
