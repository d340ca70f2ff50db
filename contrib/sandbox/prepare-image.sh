#!/bin/sh
# Builds the test image localhost/busybox from Debian's busybox-static: a root file system with busybox and its
# applets, imported with `podman import` (no registry needed). Runs inside the sandbox.
set -eu
web() {
    # localhost/geard-web: busybox serving /www (index.html says geard-web) on 8080 by default, for tests that
    # drive geard's own client, whose installs carry no command.
    podman image exists localhost/geard-web 2>/dev/null && return 0
    podman rm -f gear-prepare-web >/dev/null 2>&1 || true
    podman run -q --name gear-prepare-web localhost/busybox sh -c 'echo geard-web > /www/index.html' >/dev/null
    podman commit -q --change 'CMD ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]' gear-prepare-web localhost/geard-web >/dev/null
    podman rm -f gear-prepare-web >/dev/null
}
if podman image exists localhost/busybox 2>/dev/null; then web; exit 0; fi
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
web
