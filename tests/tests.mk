# Unit tests: tests/unit/test_<name>.c -> $(O)/tests/unit/test_<name>, linked with
# test_main.o and the component libraries. Components list their tests in UNIT_TESTS
# (paths of the binaries) and may set per-test extra objects/libraries with
# <binary>_LIBS.
TEST_MAIN_OBJ := $(O)/tests/unit/test_main.o

$(O)/tests/unit/test_%: $(O)/tests/unit/test_%.o $(TEST_MAIN_OBJ) $(TEST_LINK_DEPS)
	$(CC) $(LDFLAGS) -o $@ $< $(TEST_MAIN_OBJ) $(TEST_LINK_LIBS)

.PHONY: unit-tests
unit-tests: $(UNIT_TESTS)
	@tests/run-unit.sh $(UNIT_TESTS)

.PHONY: test
test: deps
	@tests/run-all.sh
include tests/guest/guest.mk

# Build every unit test binary without running them.
.PHONY: unit-test-bins
unit-test-bins: $(UNIT_TESTS)
