# The REST API server and the configuration parsers it shares with --config-file.
# Limits and threading: api/http.h and api/api.h.
API_SRCS += \
	api/http.c \
	api/routes.c \
	api/server.c

# The configuration parsers and metrics live in libvmm: the VMM core uses them without the API.
VMM_LIB_SRCS += \
	vmm/config.c \
	vmm/metrics.c

UNIT_TESTS += \
	$(O)/tests/unit/test_config \
	$(O)/tests/unit/test_http \
	$(O)/tests/unit/test_api_server

# The pattern rule in tests/tests.mk names TEST_LINK_DEPS before the top Makefile sets it,
# so relinking on a library change is spelled out here for these tests.
API_TEST_BINS := $(O)/tests/unit/test_config $(O)/tests/unit/test_http \
	$(O)/tests/unit/test_api_server
$(API_TEST_BINS): $(O)/libapi.a $(O)/libvmm.a
