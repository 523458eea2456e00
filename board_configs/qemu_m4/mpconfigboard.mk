# The concentrator's emulated Cortex-M4F board: QEMU's mps2-an386 machine (ARM AN386 FPGA image).
# host_tools/qemu_build.py copies this folder into ports/qemu/boards/QEMU_M4 and builds it.
QEMU_ARCH = arm
QEMU_MACHINE = mps2-an386

CFLAGS += -mthumb -mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16
CFLAGS += -DQEMU_SOC_MPS2
CFLAGS += -DMICROPY_HW_MCU_NAME='"Cortex-M4F"'
# Read by the patched mpconfigport.h before its own settings (patches/mpconfigport.patch).
CFLAGS += -DMP_CONFIGFILE_BOARD='"boards/QEMU_M4/mpconfigboard.h"'
# uart.c and ticks.c do not read the config: what they need from the board is said here.
CFLAGS += -DQEMU_BOARD_UART -DQEMU_BOARD_SYSTICK_HOOK=board_systick

LDSCRIPT = mcu/arm/mps2.ld

SRC_BOARD_O = shared/runtime/gchelper_native.o shared/runtime/gchelper_thumb2.o
SRC_C += boards/QEMU_M4/board.c boards/QEMU_M4/uart_irq.c shared/timeutils/timeutils.c
# Files extmod/ includes (the *_INCLUDEFILE settings): scanned for their qstrs by name.
SRC_QSTR += boards/QEMU_M4/modmachine_board.c boards/QEMU_M4/machine_uart.c \
	boards/QEMU_M4/machine_wdt.c boards/QEMU_M4/modtime_board.c

MPY_CROSS_FLAGS += -march=armv7emsp
MICROPY_FLOAT_IMPL = float
SUPPORTS_HARDWARE_FP_SINGLE = 1

# The heap of an ESP32 without PSRAM as board_configs/esp32_devkitc.json budgets it (192 KB).
MICROPY_HEAP_SIZE = 196608
MICROPY_VFS_LFS2 = 1
FROZEN_MANIFEST = $(BOARD_DIR)/manifest.py
