import { confirmDialBudgetSeconds } from "../../core/firewall-timing";
import { cidr, ipAddress, listOf, port, section, unixUser, wholeNumber } from "./fields";

/** limen:ssh: how the stack reaches both hosts, and who else may. */
export const sshSchema = section(
    {
        /** Non-root user with passwordless sudo on both hosts. */
        user: unixUser("must not be root: deploy as a non-root user with sudo so every privileged step is explicit"),
        /** SSH port on both hosts; default 22. */
        port: port.default(22),
        /** Networks allowed to reach SSH on both hosts once the firewall is in place. */
        adminNetworks: listOf(cidr, "networks in CIDR form, such as [192.0.2.0/24, 2001:db8::/64]").min(1, {
            message: "must list at least one network: an empty SSH allow-list locks every operator (and this stack) out of the hosts",
        }),
        /** Addresses `pulumi up` connects from; each must fall inside adminNetworks; default []. */
        deployFrom: listOf(ipAddress("the address `pulumi up` connects from"), "IP addresses `pulumi up` connects from").default([]),
        /** SSH dial attempts before a host counts as unreachable (sshd slow to start after boot); default 10. */
        connectAttempts: wholeNumber(1, 100, "attempts").default(10),
        /** Seconds each SSH dial attempt may take; default 15. */
        connectTimeoutSeconds: wholeNumber(1, 300, "seconds").default(15),
        /** Seconds a new firewall ruleset has to be confirmed over a new SSH connection before the host restores the previous one; default 60. */
        firewallConfirmSeconds: wholeNumber(confirmDialBudgetSeconds + 5, 3600, "seconds")
            .min(confirmDialBudgetSeconds + 5, {
                message: `must leave the confirmation (up to ${confirmDialBudgetSeconds} s of SSH dialing) time to finish before the host reverts: a whole number of seconds from ${confirmDialBudgetSeconds + 5} to 3600`,
            })
            .default(60),
    },
    "user, port, adminNetworks, deployFrom, connectAttempts, connectTimeoutSeconds, firewallConfirmSeconds",
);
