import { addressFamily } from "../core/addresses";
import { firewallTable } from "../core/host-paths";

/**
 * nftables ruleset for one host: a single table the stack owns, replaced atomically.
 *
 * The first two statements make `nft -f` work on a fresh host and on every later run alike: declaring
 * the table creates it when missing, deleting it drops the old rules, and the whole file is one
 * transaction, so there is no moment without rules. `flush ruleset` is never used: it would also
 * wipe Docker's and ufw's tables.
 */
export { firewallTable };

export interface FirewallSpec {
    /** Which host this is, for the header comment. */
    host: "frontend" | "backend";
    /** SSH port, open only to adminNetworks. */
    sshPort: number;
    /** Networks (CIDR) allowed to reach SSH. */
    adminNetworks: string[];
    /** Ports open to everyone (frontend: Envoy's 80/443; backend: public API ports). */
    publicTcpPorts: number[];
    /** Ports reachable only from internalClients (backend: API and agent); empty on the frontend. */
    internalTcpPorts: number[];
    /** Host addresses allowed to reach internalTcpPorts. */
    internalClients: string[];
    /** Ports that must never be reached from outside the host (frontend: the pm2 apps, Envoy admin). */
    localOnlyTcpPorts: number[];
}

function elements(values: (string | number)[]): string {
    return values.length === 0 ? "" : ` elements = { ${values.join(", ")} };`;
}

export function renderFirewall(spec: FirewallSpec): string {
    const byFamily = (addresses: string[], family: "ipv4" | "ipv6") => addresses.filter((address) => addressFamily(address.split("/")[0] ?? "") === family);
    const admin4 = byFamily(spec.adminNetworks, "ipv4");
    const admin6 = byFamily(spec.adminNetworks, "ipv6");
    const clients4 = byFamily(spec.internalClients, "ipv4");
    const clients6 = byFamily(spec.internalClients, "ipv6");
    const guarded = [...spec.internalTcpPorts, ...spec.localOnlyTcpPorts];
    const table = `${firewallTable.family} ${firewallTable.name}`;

    const lines = [
        "#!/usr/sbin/nft -f",
        `# ${spec.host} firewall, rendered by limen-infra. Replaced as a whole by \`pulumi up\`; edit the stack config, not this file.`,
        `table ${table}`,
        `delete table ${table}`,
        `table ${table} {`,
        `\tset admin_v4 { type ipv4_addr; flags interval;${elements(admin4)} }`,
        `\tset admin_v6 { type ipv6_addr; flags interval;${elements(admin6)} }`,
        `\tset internal_clients_v4 { type ipv4_addr;${elements(clients4)} }`,
        `\tset internal_clients_v6 { type ipv6_addr;${elements(clients6)} }`,
        `\tset guarded_ports { type inet_service;${elements(guarded)} }`,
        `\tset internal_ports { type inet_service;${elements(spec.internalTcpPorts)} }`,
        `\tset public_ports { type inet_service;${elements(spec.publicTcpPorts)} }`,
        "",
        "\t# Before any NAT: a port Docker publishes is DNAT-ed in prerouting and then forwarded, so the",
        "\t# input chain never sees it. Guarded ports are decided here, whatever listens behind them.",
        "\tchain prerouting {",
        "\t\ttype filter hook prerouting priority -150; policy accept;",
        '\t\tiif "lo" accept',
        "\t\ttcp dport @internal_ports ip saddr @internal_clients_v4 accept",
        "\t\ttcp dport @internal_ports ip6 saddr @internal_clients_v6 accept",
        "\t\ttcp dport @guarded_ports counter drop",
        "\t}",
        "",
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy drop;",
        '\t\tiif "lo" accept',
        "\t\tct state invalid drop",
        "\t\tct state established,related accept",
        "\t\t# ICMP (1) and ICMPv6 (58): ICMPv6 carries neighbour discovery, without it IPv6 stops working.",
        "\t\t# By number: names need /etc/protocols, which minimal images (no netbase) lack.",
        "\t\tmeta l4proto { 1, 58 } accept",
        "\t\tudp sport 67 udp dport 68 accept",
        "\t\tudp sport 547 udp dport 546 accept",
        `\t\ttcp dport ${spec.sshPort} ip saddr @admin_v4 accept`,
        `\t\ttcp dport ${spec.sshPort} ip6 saddr @admin_v6 accept`,
        "\t\ttcp dport @internal_ports ip saddr @internal_clients_v4 accept",
        "\t\ttcp dport @internal_ports ip6 saddr @internal_clients_v6 accept",
        "\t\ttcp dport @public_ports accept",
        "\t\tcounter",
        "\t}",
        "}",
        "",
    ];
    return lines.join("\n");
}
