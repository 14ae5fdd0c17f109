import { hostAddress, listOf, section, sshHostKey } from "./fields";

/** limen:frontend: the host with Envoy and the pm2 apps. */
export const frontendSchema = section(
    {
        /** IP address the stack connects to over SSH. */
        address: hostAddress({
            role: "the frontend address",
            loopback: "the stack would configure the machine it runs on, and the backend would open its internal ports to itself",
        }),
        /** Pinned host key line. */
        hostKey: sshHostKey,
        /** Addresses the backend sees the frontend's connections come from; default [address]. */
        internalAddresses: listOf(
            hostAddress({ role: "a frontend internal address", loopback: "the backend would open its internal ports to itself instead of to the frontend" }),
            "the frontend's IP addresses as the backend sees them",
        )
            .min(1, { message: "must list at least one address (or be left out, to use limen:frontend.address)" })
            .optional(),
    },
    "address, hostKey, internalAddresses",
);
