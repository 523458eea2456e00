// The CMSDK APB UARTs of the AN386 image, interrupt-driven: every received byte goes into a
// ring buffer from the RX interrupt, so nothing is lost while Python runs, and a Ctrl-C on the
// REPL UART raises KeyboardInterrupt in running code (as on a real board).
// Replaces the polled UART0 code of ports/qemu/uart.c (patches/uart.patch).
#include <string.h>

#include "py/runtime.h"
#include "shared/runtime/interrupt_char.h"
#include "boards/QEMU_M4/board.h"
#include "uart.h"

// Register layout and bits from the CMSDK APB UART description (ARM DDI 0479), as QEMU's
// hw/char/cmsdk-apb-uart.c models it.
typedef struct {
    volatile uint32_t DATA;
    volatile uint32_t STATE;       // bit 0 TX full, bit 1 RX full
    volatile uint32_t CTRL;        // bit 0 TX en, 1 RX en, 2 TX int en, 3 RX int en
    volatile uint32_t INTSTATUS;   // write 1 to clear; bit 0 TX, bit 1 RX
    volatile uint32_t BAUDDIV;
} cmsdk_uart_t;

#define STATE_TXFULL (1u << 0)
#define STATE_RXFULL (1u << 1)
#define CTRL_TXEN (1u << 0)
#define CTRL_RXEN (1u << 1)
#define CTRL_RXINTEN (1u << 3)
#define INT_RX (1u << 1)
#define NVIC_ISER ((volatile uint32_t *)0xE000E100)
#define SYSCLK_HZ (25000000u)       // the MPS2 FPGA's peripheral clock (QEMU SYSCLK_FRQ)

static cmsdk_uart_t *const uart_regs[BOARD_UART_COUNT] = {
    (cmsdk_uart_t *)0x40004000, (cmsdk_uart_t *)0x40005000, (cmsdk_uart_t *)0x40006000,
    (cmsdk_uart_t *)0x40007000,
};
static const uint8_t board_uart_rx_irq[BOARD_UART_COUNT] = {0, 2, 4, 18};

typedef struct {
    uint8_t buf[BOARD_UART_RXBUF];
    volatile uint16_t head;     // written by the interrupt
    volatile uint16_t tail;     // written by the reader
} ring_t;

static ring_t rings[BOARD_UART_COUNT];

static inline uint32_t irq_off(void) {
    uint32_t primask;
    __asm volatile ("mrs %0, primask\n cpsid i" : "=r" (primask));
    return primask;
}

static inline void irq_restore(uint32_t primask) {
    __asm volatile ("msr primask, %0" : : "r" (primask));
}

// Move waiting bytes into the ring. When the ring is full the byte stays in the UART, whose
// full flag makes QEMU hold back the rest in the host's serial line: flow control, no loss.
static void drain(int id) {
    cmsdk_uart_t *u = uart_regs[id];
    ring_t *r = &rings[id];
    while (u->STATE & STATE_RXFULL) {
        uint16_t next = (r->head + 1) % BOARD_UART_RXBUF;
        if (next == r->tail) {
            break;
        }
        uint8_t c = u->DATA;
        if (id == 0 && c == mp_interrupt_char) {
            mp_sched_keyboard_interrupt();
            continue;
        }
        r->buf[r->head] = c;
        r->head = next;
    }
    u->INTSTATUS = INT_RX;
}

static void board_uart_rx_isr(int id) {
    drain(id);
}

void board_uart_init(int id, uint32_t baudrate) {
    cmsdk_uart_t *u = uart_regs[id];
    rings[id].head = rings[id].tail = 0;
    uint32_t div = baudrate ? SYSCLK_HZ / baudrate : 16;
    u->BAUDDIV = div < 16 ? 16 : div;   // QEMU treats a divider below 16 as a disabled UART
    u->CTRL = CTRL_TXEN | CTRL_RXEN | CTRL_RXINTEN;
    NVIC_ISER[0] = 1u << board_uart_rx_irq[id];
    drain(id);
}

void board_uart_deinit(int id) {
    if (id != 0) {
        uart_regs[id]->CTRL = 0;
    }
}

size_t board_uart_any(int id) {
    ring_t *r = &rings[id];
    uint32_t n = (r->head + BOARD_UART_RXBUF - r->tail) % BOARD_UART_RXBUF;
    if (n == 0 && (uart_regs[id]->STATE & STATE_RXFULL)) {
        uint32_t s = irq_off();
        drain(id);
        irq_restore(s);
        n = (r->head + BOARD_UART_RXBUF - r->tail) % BOARD_UART_RXBUF;
    }
    return n;
}

int board_uart_getc(int id) {
    ring_t *r = &rings[id];
    if (r->head == r->tail) {
        return -1;
    }
    int c = r->buf[r->tail];
    r->tail = (r->tail + 1) % BOARD_UART_RXBUF;
    // A byte held in the UART while the ring was full can come in now.
    if (uart_regs[id]->STATE & STATE_RXFULL) {
        uint32_t s = irq_off();
        drain(id);
        irq_restore(s);
    }
    return c;
}

void board_uart_write(int id, const uint8_t *buf, size_t len) {
    cmsdk_uart_t *u = uart_regs[id];
    for (size_t i = 0; i < len; ++i) {
        while (u->STATE & STATE_TXFULL) {
        }
        u->DATA = buf[i];
    }
}

// ---- interrupt vectors --------------------------------------------------------------------
// The port's table (mcu/arm/startup.c) has the 16 system exceptions only; this one adds the
// AN386's 32 external interrupts. VTOR needs it aligned to its size rounded up to a power of 2.
#define VTOR (*(volatile uint32_t *)0xE000ED08)

extern const uint32_t isr_vector[];
static uint32_t vectors[16 + 32] __attribute__((aligned(256)));

static void uart0_rx_handler(void) {
    board_uart_rx_isr(0);
}
static void uart1_rx_handler(void) {
    board_uart_rx_isr(1);
}
static void uart2_rx_handler(void) {
    board_uart_rx_isr(2);
}
static void uart3_rx_handler(void) {
    board_uart_rx_isr(3);
}

static void unused_handler(void) {
}

static void vectors_init(void) {
    static void (*const rx_handlers[BOARD_UART_COUNT])(void) = {
        uart0_rx_handler, uart1_rx_handler, uart2_rx_handler, uart3_rx_handler,
    };
    memcpy(vectors, isr_vector, 16 * sizeof(uint32_t));
    for (int i = 16; i < 16 + 32; ++i) {
        vectors[i] = (uint32_t)unused_handler;
    }
    for (int i = 0; i < BOARD_UART_COUNT; ++i) {
        vectors[16 + board_uart_rx_irq[i]] = (uint32_t)rx_handlers[i];
    }
    VTOR = (uint32_t)vectors;
    __asm volatile ("dsb\n isb");
}

// The REPL's UART0 functions that ports/qemu/mphalport.c calls.
// The port's first board call at power-on (mcu/arm/startup.c), so the vector table that has the
// UART interrupts goes up here, before any of them is enabled.
void uart_init(void) {
    vectors_init();
    board_uart_init(0, 115200);
}

int uart_rx_chr(void) {
    int c = board_uart_getc(0);
    return c < 0 ? UART_RX_NO_CHAR : c;
}

int uart_rx_any(void) {
    return board_uart_any(0) > 0;
}

void uart_tx_strn(const char *buf, size_t len) {
    board_uart_write(0, (const uint8_t *)buf, len);
}
