# Frozen into the firmware image (flash, not heap): asyncio, which the kernel benchmark compares
# the concentrator's kernel with. The concentrator's own code goes in the ROMFS image instead.
include("$(MPY_DIR)/extmod/asyncio")
