package io.flowget.udf.http;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.ReadableConfig;

import java.io.Serializable;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * The SSRF guard's rule set: which IP addresses (and ports) flowget may connect to. It is applied to the addresses
 * a name resolves to (and to literal IP hosts), by {@link GuardedDnsResolver}, for every connection the HTTP client
 * opens, so every redirect hop is checked too; ports are checked per hop by the fetch operator ({@link
 * #portRefusal}).
 *
 * <p><b>Rules.</b> Built-in deny rules that always apply ({@link #BUILT_IN_DENY}: unspecified, link-local and the
 * cloud metadata endpoints), the posture's ({@link #SERVICE_DENY} under {@code SERVICE}: loopback, private, CGNAT,
 * ULA, multicast, reserved and documentation ranges; nothing more under {@code LOCAL}), plus
 * {@code flowget.net.deny-cidrs}, plus {@code flowget.net.allow-cidrs}. The most specific matching rule (longest
 * prefix) decides; at equal length an allow rule wins, so allowing exactly {@code 10.0.0.0/8} lifts the posture's
 * rule and allowing {@code 169.254.0.0/16} the built-in one. An address no rule matches is allowed.
 * {@code deny-cidrs: 0.0.0.0/0,::/0} with an allow list turns the policy into an allow list.
 *
 * <p><b>Embedded IPv4.</b> IPv4-mapped and IPv4-compatible IPv6 addresses ({@code ::ffff:169.254.169.254}) are judged
 * as the IPv4 address they carry. NAT64 ({@code 64:ff9b::/96}, {@code 64:ff9b:1::/48}), 6to4 ({@code 2002::/16})
 * and Teredo ({@code 2001::/32}) addresses are judged twice, as themselves and as the IPv4 address they reach:
 * refused if either is. Immutable and thread-safe.
 */
public final class AddressPolicy implements Serializable {
    private static final long serialVersionUID = 2L;

    /** Deny rules that always apply, with the reason a refusal names. */
    public static final List<String> BUILT_IN_DENY =
            List.of(
                    "0.0.0.0/8=unspecified address",
                    "::/128=unspecified address",
                    "169.254.0.0/16=link-local / cloud metadata",
                    "fe80::/10=link-local",
                    // AWS IMDS and EKS pod identity over IPv6 (their IPv4 ones are link-local).
                    "fd00:ec2::254/128=cloud metadata",
                    "fd00:ec2::23/128=cloud metadata",
                    "100.100.100.200/32=cloud metadata", // Alibaba
                    "168.63.129.16/32=cloud metadata", // Azure WireServer
                    "192.0.0.192/32=cloud metadata"); // Oracle Cloud

    /** Deny rules of the {@code SERVICE} posture: everything that is not public unicast (IANA special-purpose). */
    public static final List<String> SERVICE_DENY =
            List.of(
                    "127.0.0.0/8=loopback",
                    "::1/128=loopback",
                    "10.0.0.0/8=private",
                    "172.16.0.0/12=private",
                    "192.168.0.0/16=private",
                    "100.64.0.0/10=shared address space (CGNAT)",
                    "fc00::/7=unique local",
                    "fec0::/10=site-local",
                    "224.0.0.0/4=multicast",
                    "ff00::/8=multicast",
                    "240.0.0.0/4=reserved",
                    "192.0.0.0/24=IETF protocol assignments",
                    "2001::/23=IETF protocol assignments",
                    "100::/64=discard-only",
                    "192.0.2.0/24=documentation",
                    "198.51.100.0/24=documentation",
                    "203.0.113.0/24=documentation",
                    "2001:db8::/32=documentation",
                    "3fff::/20=documentation",
                    "198.18.0.0/15=benchmarking",
                    "192.88.99.0/24=6to4 relay anycast",
                    "64:ff9b:1::/48=local-use NAT64");

    private final List<Rule> rules;
    /** Allowed port ranges as [from, to] pairs; empty: any port. */
    private final int[][] ports;

    private AddressPolicy(List<Rule> rules, int[][] ports) {
        this.rules = List.copyOf(rules);
        this.ports = ports;
    }

    /** The policy of a configuration: built-in and posture denies plus the configured deny and allow lists. */
    public static AddressPolicy from(ReadableConfig conf) {
        return of(
                        conf.get(FlowgetOptions.NET_POSTURE),
                        splitList(conf.getOptional(FlowgetOptions.NET_ALLOW_CIDRS).orElse("")),
                        splitList(conf.getOptional(FlowgetOptions.NET_DENY_CIDRS).orElse("")))
                .withPorts(conf.getOptional(FlowgetOptions.NET_ALLOWED_PORTS).orElse(""));
    }

    /** Splits an option's list on commas, semicolons and blanks. */
    public static List<String> splitList(String s) {
        List<String> out = new ArrayList<>();
        if (s != null) {
            for (String p : s.split("[,;\\s]+")) {
                if (!p.isBlank()) {
                    out.add(p);
                }
            }
        }
        return out;
    }

    /** {@link #of(FlowgetOptions.NetPosture, List, List)} under the {@code LOCAL} posture. */
    public static AddressPolicy of(List<String> allow, List<String> deny) {
        return of(FlowgetOptions.NetPosture.LOCAL, allow, deny);
    }

    /**
     * Builds a policy from a posture and allow and deny CIDR lists (each entry {@code address/prefix} or a bare
     * address); any port.
     *
     * @throws IllegalArgumentException naming the entry that does not parse
     */
    public static AddressPolicy of(FlowgetOptions.NetPosture posture, List<String> allow, List<String> deny) {
        List<Rule> rules = new ArrayList<>();
        List<String> fixed = new ArrayList<>(BUILT_IN_DENY);
        if (posture == FlowgetOptions.NetPosture.SERVICE) {
            fixed.addAll(SERVICE_DENY);
        }
        for (String builtIn : fixed) {
            int eq = builtIn.indexOf('=');
            rules.add(Rule.parse(builtIn.substring(0, eq), false, builtIn.substring(eq + 1)));
        }
        for (String d : nonBlank(deny)) {
            rules.add(Rule.parse(d, false, "denied by " + FlowgetOptions.NET_DENY_CIDRS.key()));
        }
        for (String a : nonBlank(allow)) {
            rules.add(Rule.parse(a, true, null));
        }
        return new AddressPolicy(rules, new int[0][]);
    }

    /**
     * This policy with only the given ports allowed ({@code 80,443,8000-8999}); blank: any port.
     *
     * @throws IllegalArgumentException naming the entry that does not parse
     */
    public AddressPolicy withPorts(String allowedPorts) {
        List<int[]> out = new ArrayList<>();
        for (String p : splitList(allowedPorts)) {
            try {
                int dash = p.indexOf('-');
                int from = Integer.parseInt(dash < 0 ? p : p.substring(0, dash).trim());
                int to = dash < 0 ? from : Integer.parseInt(p.substring(dash + 1).trim());
                if (from < 1 || to > 65535 || from > to) {
                    throw new NumberFormatException();
                }
                out.add(new int[] {from, to});
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(
                        "not a port or port range in " + FlowgetOptions.NET_ALLOWED_PORTS.key() + ": '" + p + "'");
            }
        }
        return new AddressPolicy(rules, out.toArray(new int[0][]));
    }

    /** Why a port is refused ({@code flowget.net.allowed-ports}), or null when it is allowed. */
    public String portRefusal(int port) {
        if (ports.length == 0) {
            return null;
        }
        for (int[] r : ports) {
            if (port >= r[0] && port <= r[1]) {
                return null;
            }
        }
        return "blocked port: " + port + " (not in " + FlowgetOptions.NET_ALLOWED_PORTS.key() + ")";
    }

    private static List<String> nonBlank(List<String> in) {
        if (in == null) {
            return Collections.emptyList();
        }
        List<String> out = new ArrayList<>();
        for (String s : in) {
            if (s != null && !s.isBlank()) {
                out.add(s.trim());
            }
        }
        return out;
    }

    /** Why an address is refused, or null when it is allowed. */
    public String refusal(InetAddress address) {
        byte[] bytes = normalize(address);
        String own = judge(bytes);
        if (own != null || bytes.length != 16) {
            return own;
        }
        for (Embedded e : embedded(bytes)) {
            String inner = judge(e.ipv4());
            if (inner != null) {
                return inner + ", embedded in " + e.form();
            }
        }
        return null;
    }

    private String judge(byte[] bytes) {
        Rule best = null;
        for (Rule r : rules) {
            if (r.matches(bytes)
                    && (best == null
                            || r.prefix > best.prefix
                            || (r.prefix == best.prefix && r.allow && !best.allow))) {
                best = r;
            }
        }
        return best == null || best.allow ? null : best.reason;
    }

    /** True when flowget may connect to the address. */
    public boolean allows(InetAddress address) {
        return refusal(address) == null;
    }

    /** An IPv4 address carried inside an IPv6 one, and the form that carries it. */
    private record Embedded(byte[] ipv4, String form) {}

    /** The IPv4 addresses a NAT64, 6to4 or Teredo address leads to (RFC 6052, 3056, 4380); empty for others. */
    private static List<Embedded> embedded(byte[] b) {
        List<Embedded> out = new ArrayList<>(2);
        if (startsWith(b, 0x00, 0x64, 0xff, 0x9b) && allZero(b, 4, 12)) {
            out.add(new Embedded(slice(b, 12), "NAT64 64:ff9b::/96"));
        } else if (startsWith(b, 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01)) {
            // Local-use prefix (RFC 8215): the /96 layout when bytes 6..11 are zero, else the /48 one (u-octet at
            // byte 8). The SERVICE posture refuses the whole prefix anyway.
            out.add(
                    allZero(b, 6, 12)
                            ? new Embedded(slice(b, 12), "NAT64 64:ff9b:1::/48")
                            : new Embedded(new byte[] {b[6], b[7], b[9], b[10]}, "NAT64 64:ff9b:1::/48"));
        } else if (startsWith(b, 0x20, 0x02)) {
            out.add(new Embedded(new byte[] {b[2], b[3], b[4], b[5]}, "6to4 2002::/16"));
        } else if (startsWith(b, 0x20, 0x01, 0x00, 0x00)) {
            byte[] client = slice(b, 12);
            for (int i = 0; i < 4; i++) {
                client[i] = (byte) ~client[i];
            }
            out.add(new Embedded(client, "Teredo 2001::/32"));
            out.add(new Embedded(new byte[] {b[4], b[5], b[6], b[7]}, "Teredo 2001::/32"));
        }
        return out;
    }

    private static boolean startsWith(byte[] b, int... prefix) {
        for (int i = 0; i < prefix.length; i++) {
            if ((b[i] & 0xff) != prefix[i]) {
                return false;
            }
        }
        return true;
    }

    private static boolean allZero(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private static byte[] slice(byte[] b, int from) {
        return new byte[] {b[from], b[from + 1], b[from + 2], b[from + 3]};
    }

    /** The address bytes to judge: IPv4 for IPv4-mapped/-compatible IPv6, else as is. */
    private static byte[] normalize(InetAddress address) {
        byte[] b = address.getAddress();
        if (address instanceof Inet6Address && b.length == 16) {
            boolean zeros = allZero(b, 0, 10);
            boolean mapped = zeros && b[10] == (byte) 0xff && b[11] == (byte) 0xff;
            // ::a.b.c.d (deprecated IPv4-compatible); "::" and "::1" stay IPv6 (unspecified, loopback).
            boolean compatible =
                    zeros && b[10] == 0 && b[11] == 0 && !(allZero(b, 12, 15) && (b[15] & 0xff) <= 1);
            if (mapped || compatible) {
                return new byte[] {b[12], b[13], b[14], b[15]};
            }
        }
        return b;
    }

    @Override
    public String toString() {
        return "AddressPolicy" + rules;
    }

    /** One CIDR rule. */
    private record Rule(byte[] network, int prefix, boolean allow, String reason, String text)
            implements Serializable {

        static Rule parse(String cidr, boolean allow, String reason) {
            String s = cidr.trim().toLowerCase(Locale.ROOT);
            int slash = s.indexOf('/');
            String addr = slash < 0 ? s : s.substring(0, slash);
            if (addr.startsWith("[") && addr.endsWith("]")) {
                addr = addr.substring(1, addr.length() - 1);
            }
            if (!isLiteral(addr)) {
                throw new IllegalArgumentException("not a CIDR (address/prefix): '" + cidr + "'");
            }
            byte[] net;
            try {
                // A literal never triggers a lookup.
                net = InetAddress.getByName(addr).getAddress();
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException("not a CIDR (address/prefix): '" + cidr + "'", e);
            }
            int bits = net.length * 8;
            int prefix;
            try {
                prefix = slash < 0 ? bits : Integer.parseInt(s.substring(slash + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad prefix length in CIDR '" + cidr + "'", e);
            }
            if (prefix < 0 || prefix > bits) {
                throw new IllegalArgumentException("prefix length out of range in CIDR '" + cidr + "'");
            }
            return new Rule(mask(net, prefix), prefix, allow, reason, s);
        }

        /** Literal IPv4 (dotted quad) or IPv6 text, so that parsing a rule never does DNS. */
        private static boolean isLiteral(String addr) {
            // One pass without a regex split or streams: the fetch operator's DNS gate asks this for every turn
            // of a host (the same answers as before: hex digits, ':' and '.' for IPv6; four parts of one to three
            // digits, each at most 255, for IPv4).
            int n = addr.length();
            if (n == 0) {
                return false;
            }
            if (addr.indexOf(':') >= 0) {
                for (int i = 0; i < n; i++) {
                    char c = addr.charAt(i);
                    if (Character.digit(c, 16) < 0 && c != ':' && c != '.') {
                        return false;
                    }
                }
                return true;
            }
            int parts = 0;
            int digits = 0;
            int value = 0;
            for (int i = 0; i <= n; i++) {
                char c = i < n ? addr.charAt(i) : '.';
                if (c == '.') {
                    if (digits == 0 || value > 255 || ++parts > 4) {
                        return false;
                    }
                    digits = 0;
                    value = 0;
                } else if (!Character.isDigit(c) || ++digits > 3) {
                    return false;
                } else {
                    value = value * 10 + Character.digit(c, 10);
                }
            }
            return parts == 4;
        }

        private static byte[] mask(byte[] addr, int prefix) {
            byte[] out = addr.clone();
            for (int i = 0; i < out.length; i++) {
                int keep = Math.max(0, Math.min(8, prefix - i * 8));
                out[i] &= (byte) (0xff << (8 - keep));
            }
            return out;
        }

        boolean matches(byte[] address) {
            return address.length == network.length && java.util.Arrays.equals(mask(address, prefix), network);
        }

        @Override
        public String toString() {
            return (allow ? "allow " : "deny ") + text;
        }
    }

    /** True for {@link Inet4Address} or {@link Inet6Address} text literals (no lookup involved). */
    static boolean isIpLiteral(String host) {
        String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        return Rule.isLiteral(h.toLowerCase(Locale.ROOT));
    }
}
