// The QEMU_M4 board's own C interface, shared by its files and the patched port files.
#ifndef QEMU_M4_BOARD_H
#define QEMU_M4_BOARD_H

#include <stddef.h>
#include <stdint.h>

// CMSDK APB UARTs of the AN386 image (QEMU hw/arm/mps2.c): base addresses and RX interrupt
// numbers (the TX interrupt is the next number). UART0 is the REPL.
#define BOARD_UART_COUNT (4)
#define BOARD_UART_RXBUF (1024)

void board_init(void);               // once at power-on, before the first mp_init()
int board_boot(void);                // each (soft) boot: mount, boot.py, main.py; !=0: reboot
void board_systick(void);            // called from SysTick_Handler every millisecond
uint64_t board_ms64(void);           // milliseconds since power-on, never wraps
int64_t board_rtc_seconds(void);     // RTC: seconds since 2000-01-01 (local time)
void board_rtc_set(int64_t seconds);
__attribute__((noreturn)) void board_reset(void);              // a system reset (SYSRESETREQ): QEMU restarts the machine
void board_wdt_start(uint32_t timeout_ms);
void board_wdt_feed(void);

void board_uart_init(int id, uint32_t baudrate);
void board_uart_deinit(int id);
size_t board_uart_any(int id);
int board_uart_getc(int id);         // -1 when nothing is waiting
void board_uart_write(int id, const uint8_t *buf, size_t len);

#endif
