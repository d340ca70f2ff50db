#!/bin/sh
# Builds the test image localhost/busybox from Debian's busybox-static: a root file system with busybox and its
# applets, imported with `podman import` (no registry needed). Runs inside the sandbox.
set -eu
if podman image exists localhost/busybox 2>/dev/null; then exit 0; fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/www"
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
tar -C "$root" -cf "$root.tar" .
podman import -q --change 'CMD ["/bin/sh"]' "$root.tar" localhost/busybox >/dev/null
rm -f "$root.tar"
