# virtio-mmio transport, split virtqueues, virtio-blk and the rate limiter.
VMM_LIB_SRCS += \
	vmm/virtio/queue.c \
	vmm/virtio/mmio.c \
	vmm/virtio/blk.c \
	vmm/rate_limiter.c

UNIT_TESTS += \
	$(O)/tests/unit/test_virtq \
	$(O)/tests/unit/test_virtio_mmio \
	$(O)/tests/unit/test_blk \
	$(O)/tests/unit/test_rate_limiter
