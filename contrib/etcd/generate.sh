#!/bin/sh
# Generates Sources/EtcdV3 from contrib/etcd/etcd.proto: run once by hand when the proto changes, and commit the
# result (the build never runs protoc). Needs protoc (Debian's protobuf-compiler) and builds the two Swift plugins,
# protoc-gen-swift (swift-protobuf 1.39.0) and protoc-gen-grpc-swift-2 (grpc-swift-protobuf 2.4.1), in a scratch
# package of its own.
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
scratch=${SCRATCH:-/tmp/gear-protoc-plugins}
mkdir -p "$scratch/Dummy"
cat > "$scratch/Package.swift" <<'PKG'
// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "plugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
    ],
    targets: [.target(name: "Dummy", path: "Dummy")]
)
PKG
: > "$scratch/Dummy/empty.swift"
(cd "$scratch" && swift build -c release --product protoc-gen-swift && swift build -c release --product protoc-gen-grpc-swift-2)
bin=$(cd "$scratch" && swift build -c release --show-bin-path)
out="$top/Sources/EtcdV3"
mkdir -p "$out"
protoc --proto_path=contrib/etcd \
    --plugin=protoc-gen-swift="$bin/protoc-gen-swift" --swift_opt=Visibility=Public --swift_out="$out" \
    --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
    --grpc-swift_opt=Visibility=Public,Server=false,Client=true --grpc-swift_out="$out" \
    etcd.proto
ls -l "$out"
