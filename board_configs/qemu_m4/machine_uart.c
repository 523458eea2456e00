// machine.UART for the CMSDK UARTs 1 and 2 of the QEMU_M4 board (UART0 is the REPL), on the
// interrupt-driven ring buffers of uart_irq.c; pollable with select.poll. Included by
// extmod/machine_uart.c through MICROPY_PY_MACHINE_UART_INCLUDEFILE.
//
//   UART(id, baudrate=9600, bits=8, parity=None, stop=1, timeout=0, timeout_char=0,
//        rxbuf=..., read_buf_len=...)   # the receive buffer is a fixed 1 KB per UART
#include "py/mphal.h"
#include "py/stream.h"
#include "boards/QEMU_M4/board.h"

#define MICROPY_PY_MACHINE_UART_CLASS_CONSTANTS

typedef struct _machine_uart_obj_t {
    mp_obj_base_t base;
    uint8_t id;
    uint8_t bits;
    uint8_t stop;
    int8_t parity;          // -1 none, 0 even, 1 odd
    uint32_t baudrate;
    uint16_t timeout;       // ms to wait for the first byte
    uint16_t timeout_char;  // ms to wait between bytes
} machine_uart_obj_t;

static machine_uart_obj_t machine_uart_obj[BOARD_UART_COUNT];

static void mp_machine_uart_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    machine_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "UART(%u, baudrate=%u, bits=%u, parity=%s, stop=%u, timeout=%u, timeout_char=%u)",
        self->id, self->baudrate, self->bits,
        self->parity < 0 ? "None" : (self->parity ? "1" : "0"), self->stop, self->timeout,
        self->timeout_char);
}

static void mp_machine_uart_init_helper(machine_uart_obj_t *self, size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_baudrate, ARG_bits, ARG_parity, ARG_stop, ARG_timeout, ARG_timeout_char, ARG_rxbuf, ARG_read_buf_len };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_baudrate, MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_bits, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_parity, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_INT(-2)} },
        { MP_QSTR_stop, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_timeout, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_timeout_char, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_rxbuf, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_read_buf_len, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    if (args[ARG_baudrate].u_int > 0) {
        self->baudrate = args[ARG_baudrate].u_int;
    }
    if (args[ARG_bits].u_int != -1) {
        if (args[ARG_bits].u_int < 7 || args[ARG_bits].u_int > 8) {
            mp_raise_ValueError(MP_ERROR_TEXT("bits must be 7 or 8"));
        }
        self->bits = args[ARG_bits].u_int;
    }
    if (args[ARG_parity].u_obj != MP_OBJ_NEW_SMALL_INT(-2)) {
        self->parity = args[ARG_parity].u_obj == mp_const_none ? -1 : (mp_obj_get_int(args[ARG_parity].u_obj) & 1);
    }
    if (args[ARG_stop].u_int != -1) {
        if (args[ARG_stop].u_int < 1 || args[ARG_stop].u_int > 2) {
            mp_raise_ValueError(MP_ERROR_TEXT("stop must be 1 or 2"));
        }
        self->stop = args[ARG_stop].u_int;
    }
    if (args[ARG_timeout].u_int >= 0) {
        self->timeout = args[ARG_timeout].u_int;
    }
    if (args[ARG_timeout_char].u_int >= 0) {
        self->timeout_char = args[ARG_timeout_char].u_int;
    }
    // QEMU's UART moves bytes at the host line's pace whatever the divider: the baud rate,
    // framing and parity are kept for what the firmware computes from them (byte times).
    board_uart_init(self->id, self->baudrate);
}

static mp_obj_t mp_machine_uart_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, MP_OBJ_FUN_ARGS_MAX, true);
    mp_int_t id = mp_obj_get_int(args[0]);
    if (id < 1 || id >= BOARD_UART_COUNT) {
        mp_raise_msg_varg(&mp_type_ValueError,
            MP_ERROR_TEXT("UART(%d) doesn't exist (1..%d; UART0 is the REPL)"), id, BOARD_UART_COUNT - 1);
    }
    machine_uart_obj_t *self = &machine_uart_obj[id];
    self->base.type = &machine_uart_type;
    self->id = id;
    self->baudrate = 9600;
    self->bits = 8;
    self->parity = -1;
    self->stop = 1;
    self->timeout = 0;
    self->timeout_char = 0;
    mp_map_t kw_args;
    mp_map_init_fixed_table(&kw_args, n_kw, args + n_args);
    mp_machine_uart_init_helper(self, n_args - 1, args + 1, &kw_args);
    return MP_OBJ_FROM_PTR(self);
}

static void mp_machine_uart_deinit(machine_uart_obj_t *self) {
    board_uart_deinit(self->id);
}

static mp_int_t mp_machine_uart_any(machine_uart_obj_t *self) {
    return board_uart_any(self->id);
}

static bool mp_machine_uart_txdone(machine_uart_obj_t *self) {
    return true;    // writes return once every byte is in the UART, which sends it at once
}

// Wait up to timeout_ms for a byte; false when none came.
static bool wait_rx(machine_uart_obj_t *self, uint32_t timeout_ms) {
    uint32_t start = mp_hal_ticks_ms();
    while (!board_uart_any(self->id)) {
        if (mp_hal_ticks_ms() - start >= timeout_ms) {
            return false;
        }
        mp_event_wait_ms(1);
    }
    return true;
}

static mp_uint_t mp_machine_uart_read(mp_obj_t self_in, void *buf_in, mp_uint_t size, int *errcode) {
    machine_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    uint8_t *buf = buf_in;
    if (size == 0) {
        return 0;
    }
    if (!wait_rx(self, self->timeout)) {
        *errcode = MP_EAGAIN;
        return MP_STREAM_ERROR;
    }
    mp_uint_t n = 0;
    while (n < size) {
        int c = board_uart_getc(self->id);
        if (c < 0) {
            if (!self->timeout_char || !wait_rx(self, self->timeout_char)) {
                break;
            }
            continue;
        }
        buf[n++] = c;
    }
    return n;
}

static mp_uint_t mp_machine_uart_write(mp_obj_t self_in, const void *buf_in, mp_uint_t size, int *errcode) {
    machine_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    board_uart_write(self->id, buf_in, size);
    return size;
}

static mp_uint_t mp_machine_uart_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    machine_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (request == MP_STREAM_POLL) {
        mp_uint_t ret = 0;
        if ((arg & MP_STREAM_POLL_RD) && board_uart_any(self->id)) {
            ret |= MP_STREAM_POLL_RD;
        }
        if (arg & MP_STREAM_POLL_WR) {
            ret |= MP_STREAM_POLL_WR;
        }
        return ret;
    }
    if (request == MP_STREAM_FLUSH) {
        return 0;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}
