#!/bin/sh
# The test world: network namespaces that stand in for the internet, so tests send
# traffic nowhere else. usage: world.sh up|down TAG
#
#   omt-TAG-inet  203.0.113.10  an HTTP server that answers /cgi-bin/ip with the
#                               caller's address
#   omt-TAG-req   198.51.100.1  the requester (uplink "wan")
#   omt-TAG-prov  192.0.2.2     the provider (uplink "wan")
#   omt-TAG-prov2 198.18.0.2    a second provider
#   omt-TAG-wan   a router joining the three: 203.0.113.1, 198.51.100.254, 192.0.2.254
#   omt-TAG-lan   the requester's private LAN behind its interface "lan"
#                 (192.168.77.1): a host 192.168.77.254 that also stands in for
#                 cloud metadata at 169.254.169.254
#
# The provider reaches the requester's endpoint through the router, as over the
# internet, and has its own route to the internet host, so that a bypass has
# somewhere to go and its absence means something.
set -eu
cmd=$1
tag=$2
wan=omt-$tag-wan inet=omt-$tag-inet req=omt-$tag-req prov=omt-$tag-prov prov2=omt-$tag-prov2
lan=omt-$tag-lan
state=${TMPDIR:-/tmp}/omt-world-$tag

down() {
	for p in dns sink https; do
		[ ! -f "$state/$p.pid" ] || kill "$(cat "$state/$p.pid")" 2>/dev/null || true
	done
	if [ -f "$state/httpd.pid" ]; then
		kill "$(cat "$state/httpd.pid")" 2>/dev/null || true
	fi
	for ns in $inet $req $prov $prov2 $wan $lan; do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$state"
}

link() { # link NS_A IF_A ADDR_A NS_B IF_B ADDR_B
	ip -n "$1" link add "$2" type veth peer name "$5" netns "$4"
	ip -n "$1" addr add "$3" dev "$2"
	ip -n "$4" addr add "$6" dev "$5"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

case $cmd in
up)
	down
	mkdir -p "$state/www/cgi-bin"
	for ns in $wan $inet $req $prov $prov2 $lan; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		# No IPv6 chatter on the test links.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	link "$wan" inet 203.0.113.1/24 "$inet" wan 203.0.113.10/24
	link "$wan" req 198.51.100.254/24 "$req" wan 198.51.100.1/24
	link "$wan" prov 192.0.2.254/24 "$prov" wan 192.0.2.2/24
	link "$wan" prov2 198.18.0.254/24 "$prov2" wan 198.18.0.2/24
	link "$req" lan 192.168.77.1/24 "$lan" req 192.168.77.254/24
	ip -n "$lan" addr add 169.254.169.254/32 dev req
	ip -n "$lan" route add default via 192.168.77.1
	ip -n "$req" route add 169.254.169.254/32 via 192.168.77.254
	ip netns exec "$wan" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$inet" route add default via 203.0.113.1
	ip -n "$req" route add default via 198.51.100.254
	ip -n "$prov" route add default via 192.0.2.254
	ip -n "$prov2" route add default via 198.18.0.254
	cat >"$state/www/cgi-bin/ip" <<-'CGI'
	#!/bin/sh
	printf 'Content-Type: text/plain\r\n\r\n%s\n' "$REMOTE_ADDR"
	CGI
	chmod 755 "$state/www/cgi-bin/ip"
	head -c 1048576 /dev/zero >"$state/www/1m"
	ip netns exec "$inet" busybox httpd -f -p 203.0.113.10:80 -h "$state/www" &
	echo $! >"$state/httpd.pid"
	# A DNS server on the internet host: every name is 203.0.113.10.
	ip netns exec "$inet" python3 "$(dirname "$0")/dns.py" 203.0.113.10 &
	echo $! >"$state/dns.pid"
	# HTTPS on 203.0.113.10:443 for example.com, from a test CA of this world's own
	# ($state/ca.pem, which a job must be given to trust it).
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=omerta-test-ca \
		-keyout "$state/ca.key" -out "$state/ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=example.com \
		-keyout "$state/tls.key" -out "$state/tls.csr" 2>/dev/null
	printf 'subjectAltName=DNS:example.com,DNS:*.example.com,IP:203.0.113.10\n' >"$state/tls.ext"
	openssl x509 -req -in "$state/tls.csr" -CA "$state/ca.pem" -CAkey "$state/ca.key" -CAcreateserial -days 2 \
		-extfile "$state/tls.ext" -out "$state/tls.pem" 2>/dev/null
	printf 'hello from the internet host\n' >"$state/www/index.html"
	ip netns exec "$inet" python3 "$(dirname "$0")/https.py" 203.0.113.10 "$state/tls.pem" "$state/tls.key" "$state/www" &
	echo $! >"$state/https.pid"
	# An upload sink on 203.0.113.10:5001 (bench).
	ip netns exec "$inet" python3 "$(dirname "$0")/sink.py" 203.0.113.10 &
	echo $! >"$state/sink.pid"
	;;
down)
	down
	;;
*)
	echo "usage: world.sh up|down TAG" >&2
	exit 2
	;;
esac
