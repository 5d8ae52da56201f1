# virtio-mmio transport, split virtqueues, virtio-blk and the rate limiter.
VMM_LIB_SRCS += \
	vmm/virtio/queue.c \
	vmm/virtio/mmio.c \
	vmm/virtio/blk.c \
	vmm/rate_limiter.c

VIRTIO_UNIT_TESTS := \
	$(O)/tests/unit/test_virtq \
	$(O)/tests/unit/test_virtio_mmio \
	$(O)/tests/unit/test_blk \
	$(O)/tests/unit/test_rate_limiter
UNIT_TESTS += $(VIRTIO_UNIT_TESTS)

# tests/tests.mk names the libraries through TEST_LINK_DEPS, which is still empty when
# its rule is read; depend on them here so a library change relinks these tests.
$(VIRTIO_UNIT_TESTS): $(O)/libvmm.a $(O)/libapi.a
