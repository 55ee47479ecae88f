# syntax=docker/dockerfile:1
# Braid's image: braid-agent, braid-cni, braidctl (also as kubectl-braid), braid-perf, and the
# SDK (libbraid.so, libbraid_preload.so, headers). deploy/helm/braid runs it.
#
#   docker build -t braid:0.1.0 .
#   buildah bud --build-arg BRAID_BINARIES=build -t braid:0.1.0 .
#
# (buildah 1.28, Debian 12's, skips the stage a `FROM ${ARG}` names unless the argument is given
# on the command line: pass the default explicitly.)
#
# BRAID_BINARIES picks where the runtime stage takes the binaries from: `build` (the default)
# compiles them in the build stage below; `prebuilt` copies them from out/ in the build context,
# staged from a release build on a Debian 12 host (tests/deploy/image_test.py does that, so the
# runtime stage is tested without compiling the project twice).
ARG BRAID_BINARIES=build

# Build stage: Debian 12 with the project's build dependencies (scripts/install-deps), a release
# build of the shipped targets only.
FROM debian:12 AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build pkg-config git ca-certificates \
      dpdk-dev libdpdk-dev libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev \
      protobuf-compiler libabsl-dev libyaml-cpp-dev prometheus-cpp-dev libssl-dev \
      libgtest-dev libgmock-dev libbenchmark-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build /build -j"$(nproc)" \
      --target braid-agent braid-cni braidctl braid-perf braid_shared braid_preload \
 && mkdir -p /out/bin /out/lib/braid /out/include \
 && cp /build/agent/braid-agent /build/cni/braid-cni /build/tools/braidctl/braidctl \
       /build/tools/braid-perf/braid-perf /out/bin/ \
 && cp -P /build/sdk/libbraid.so* /build/sdk/preload/libbraid_preload.so /out/lib/braid/ \
 && cp -r sdk/include/braid /out/include/ \
 && strip --strip-debug /out/bin/* /out/lib/braid/*.so*

# Binaries built outside the image: out/{bin,lib/braid,include} in the build context.
FROM scratch AS prebuilt
COPY out/ /out/

FROM ${BRAID_BINARIES} AS binaries

# Runtime: the runtime libraries only (DPDK's librte_* with its PMDs, gRPC, protobuf, yaml-cpp,
# prometheus-cpp, Abseil, OpenSSL) as ldd of the binaries lists them, the PMDs of the path kinds
# (bus drivers, AF_XDP, AF_PACKET, Intel and Mellanox VFs), jq for the CNI install script.
FROM debian:12-slim AS runtime
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      libabsl20220623 libgrpc++1.51 libgrpc29 libprotobuf32 libyaml-cpp0.7 \
      libprometheus-cpp-core1.0 libssl3 libc-ares2 libre2-9 libnuma1 libbsd0 libfdt1 \
      librte-eal23 librte-ethdev23 librte-kvargs23 librte-mbuf23 librte-mempool23 \
      librte-meter23 librte-net23 librte-ring23 librte-telemetry23 \
      librte-bus-pci23 librte-bus-vdev23 librte-mempool-ring23 \
      librte-net-af-xdp23 librte-net-af-packet23 librte-net-iavf23 librte-net-ixgbe23 \
      librte-net-i40e23 librte-net-ice23 librte-net-mlx5-23 \
      jq ca-certificates iproute2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=binaries /out/bin/ /usr/local/bin/
COPY --from=binaries /out/lib/braid/ /usr/local/lib/braid/
COPY --from=binaries /out/include/ /usr/local/include/
RUN ln -s braidctl /usr/local/bin/kubectl-braid \
 && echo /usr/local/lib/braid > /etc/ld.so.conf.d/braid.conf && ldconfig \
 && braid-agent --config-reference >/dev/null \
 && ldd /usr/local/bin/* /usr/local/lib/braid/*.so | (! grep "not found")
# Apps in other images load the SDK from here when this image is mounted or copied into theirs.
ENV BRAID_PRELOAD=/usr/local/lib/braid/libbraid_preload.so
ENTRYPOINT []
CMD ["braid-agent", "--config", "/etc/braid/agent.yaml"]
