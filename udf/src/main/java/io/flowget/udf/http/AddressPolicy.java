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
 * The SSRF guard's rule set: which IP addresses flowget may connect to. It is applied to the addresses a name
 * resolves to (and to literal IP hosts), by {@link GuardedDnsResolver}, for every connection the HTTP client
 * opens, so every redirect hop is checked too.
 *
 * <p><b>Rules.</b> Built-in deny rules that always apply ({@link #BUILT_IN_DENY}: link-local and the cloud
 * metadata endpoints), plus {@code flowget.net.deny-cidrs}, plus {@code flowget.net.allow-cidrs}. The most
 * specific matching rule (longest prefix) decides; at equal length an allow rule wins, so allowing exactly
 * {@code 169.254.0.0/16} lifts the built-in rule. An address no rule matches is allowed: loopback and private
 * ranges are reachable by default, so local use works; deny them explicitly ({@code 127.0.0.0/8,::1/128},
 * {@code 10.0.0.0/8}, ...) where untrusted users submit URLs. {@code deny-cidrs: 0.0.0.0/0,::/0} with an allow
 * list turns the policy into an allow list.
 *
 * <p>IPv4-mapped and IPv4-compatible IPv6 addresses ({@code ::ffff:169.254.169.254}) are judged as the IPv4
 * address they carry. Immutable and thread-safe.
 */
public final class AddressPolicy implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Deny rules that always apply, with the reason a refusal names. */
    public static final List<String> BUILT_IN_DENY =
            List.of(
                    "169.254.0.0/16=link-local / cloud metadata",
                    "fe80::/10=link-local",
                    "fd00:ec2::254/128=cloud metadata",
                    "100.100.100.200/32=cloud metadata",
                    "0.0.0.0/8=unspecified address");

    private final List<Rule> rules;

    private AddressPolicy(List<Rule> rules) {
        this.rules = List.copyOf(rules);
    }

    /** The policy of a configuration: built-in denies plus the configured deny and allow lists. */
    public static AddressPolicy from(ReadableConfig conf) {
        return of(
                splitList(conf.getOptional(FlowgetOptions.NET_ALLOW_CIDRS).orElse("")),
                splitList(conf.getOptional(FlowgetOptions.NET_DENY_CIDRS).orElse("")));
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

    /**
     * Builds a policy from allow and deny CIDR lists (each entry {@code address/prefix} or a bare address).
     *
     * @throws IllegalArgumentException naming the entry that does not parse
     */
    public static AddressPolicy of(List<String> allow, List<String> deny) {
        List<Rule> rules = new ArrayList<>();
        for (String builtIn : BUILT_IN_DENY) {
            int eq = builtIn.indexOf('=');
            rules.add(Rule.parse(builtIn.substring(0, eq), false, builtIn.substring(eq + 1)));
        }
        for (String d : nonBlank(deny)) {
            rules.add(Rule.parse(d, false, "denied by " + FlowgetOptions.NET_DENY_CIDRS.key()));
        }
        for (String a : nonBlank(allow)) {
            rules.add(Rule.parse(a, true, null));
        }
        return new AddressPolicy(rules);
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

    /** The address bytes to judge: IPv4 for IPv4-mapped/-compatible IPv6, else as is. */
    private static byte[] normalize(InetAddress address) {
        byte[] b = address.getAddress();
        if (address instanceof Inet6Address && b.length == 16) {
            boolean zeros = true;
            for (int i = 0; i < 10; i++) {
                zeros &= b[i] == 0;
            }
            boolean mapped = zeros && b[10] == (byte) 0xff && b[11] == (byte) 0xff;
            // ::a.b.c.d (deprecated IPv4-compatible); "::" and "::1" stay IPv6.
            boolean compatible = zeros && b[10] == 0 && b[11] == 0 && (b[12] != 0 || b[13] != 0);
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
            if (addr.isEmpty()) {
                return false;
            }
            if (addr.indexOf(':') >= 0) {
                return addr.chars().allMatch(c -> Character.digit(c, 16) >= 0 || c == ':' || c == '.');
            }
            String[] parts = addr.split("\\.", -1);
            if (parts.length != 4) {
                return false;
            }
            for (String p : parts) {
                if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(Character::isDigit) || Integer.parseInt(p) > 255) {
                    return false;
                }
            }
            return true;
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
