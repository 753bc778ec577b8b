# The packet lab's C hot loops (uring.native builds and loads them by name:
# pktgen, xdp_rx, zcrx_rx, dpdk_rx).
#
#   make -C native_hot -f packet.mk            # standalone
#   include packet.mk in native_hot/Makefile    # and depend on `packet`
#   make -C native_hot xdp_rx                   # one helper, as uring.native does
#
# Built into $(BUILD) (default build/). The DPDK receiver is built only where
# pkg-config finds libdpdk (Debian: dpdk libdpdk-dev); everything else needs
# just a C compiler. Nothing here is required: Python falls back and says so.

BUILD ?= build
PACKET_CFLAGS ?= -O2 -g -Wall -Wextra -std=gnu11
PACKET_DPDK := $(shell pkg-config --exists libdpdk 2>/dev/null && echo yes)

PACKET_TARGETS := $(BUILD)/pktgen $(BUILD)/libxdp_rx.so $(BUILD)/libzcrx_rx.so
ifeq ($(PACKET_DPDK),yes)
PACKET_TARGETS += $(BUILD)/dpdk_rx
endif

.PHONY: packet packet-clean pktgen xdp_rx zcrx_rx dpdk_rx
packet: $(PACKET_TARGETS)

# One helper by the name uring.native asks for.
pktgen: $(BUILD)/pktgen
xdp_rx: $(BUILD)/libxdp_rx.so
zcrx_rx: $(BUILD)/libzcrx_rx.so
ifeq ($(PACKET_DPDK),yes)
dpdk_rx: $(BUILD)/dpdk_rx
else
dpdk_rx:
	@echo "native_hot: cannot build dpdk_rx: pkg-config finds no libdpdk (install dpdk and libdpdk-dev: tools/setup-dev as root)" >&2; exit 1
endif

$(BUILD)/pktgen: pktgen.c
	@mkdir -p $(@D)
	$(CC) $(PACKET_CFLAGS) -o $@ $<

$(BUILD)/libxdp_rx.so: xdp_rx.c packet_seq.h
	@mkdir -p $(@D)
	$(CC) $(PACKET_CFLAGS) -shared -fPIC -o $@ $<

$(BUILD)/libzcrx_rx.so: zcrx_rx.c
	@mkdir -p $(@D)
	$(CC) $(PACKET_CFLAGS) -shared -fPIC -o $@ $<

# DPDK's headers trip -Wextra; its own flags come from pkg-config.
$(BUILD)/dpdk_rx: dpdk_rx.c packet_seq.h
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall $(shell pkg-config --cflags libdpdk) -o $@ $< \
		$(shell pkg-config --libs libdpdk)

packet-clean:
	rm -f $(BUILD)/pktgen $(BUILD)/libxdp_rx.so $(BUILD)/libzcrx_rx.so $(BUILD)/dpdk_rx
