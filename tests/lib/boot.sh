#!/bin/sh
# Boots an omerta initramfs under plain QEMU for the tests of omerta-mkinitrd and
# /init (omerta-vmboot does this for real jobs). Runs in the caller's network
# namespace with its tap; never user-mode networking.
# usage: boot.sh IMAGE TAP DIR [TIMEOUT [MEMORY_MIB]]
#   DIR receives console, ctl, out and err; the exit status is QEMU's (124: timeout).
set -eu
img=$1 tap=$2 dir=$3 limit=${4:-120} mem=${5:-128}
kernel=${KERNEL:-${OMERTA_KERNEL:-$(printf "%s\n" /boot/vmlinuz-* | sort -V | tail -n 1)}}
mhz=$(awk -F: '/^cpu MHz/{print int($2); exit}' /proc/cpuinfo)
# A kernel built without ACPI (omerta's own, make kernel) finds its virtio-mmio
# devices on the command line, which QEMU writes only with acpi=off (as omerta-vmboot).
machine=microvm
v=${kernel##*/vmlinuz-}
! grep -qx '# CONFIG_ACPI is not set' "${kernel%/*}/config-$v" 2>/dev/null || machine=microvm,acpi=off
mkdir -p "$dir"
: >"$dir/ctl"
: >"$dir/out"
: >"$dir/err"
# tsc_early_khz: under TCG with microvm (no HPET, no PM timer) the guest otherwise
# sometimes hangs calibrating the TSC. erms=off as omerta-vmboot(1) does (TCG runs
# "rep movsb" a byte at a time).
exec timeout "$limit" qemu-system-x86_64 -M "$machine" -nodefaults -no-user-config \
	-display none -cpu max,erms=off,fsrm=off -m "$mem" -kernel "$kernel" -initrd "$img" \
	-append "console=ttyS0 quiet panic=-1 ipv6.disable=1 tsc_early_khz=${mhz}000" \
	-serial "file:$dir/console" \
	-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" \
	-device virtio-net-device,netdev=n0 \
	-device virtio-serial-device \
	-chardev "file,id=ctl,path=$dir/ctl" -device virtserialport,chardev=ctl,name=omerta.ctl \
	-chardev "file,id=out,path=$dir/out" -device virtserialport,chardev=out,name=omerta.out \
	-chardev "file,id=err,path=$dir/err" -device virtserialport,chardev=err,name=omerta.err \
	-no-reboot
