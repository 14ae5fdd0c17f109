/**
 * The design document's fixed numbers (shared/seed/network-ports): the backend's internal API port and
 * its agent service port. Config defaults to them, refuses them as public ports (even when the
 * configured ports differ), and the policy pack checks the firewall keeps them to the frontend.
 */
export const seedPorts = { backendApi: 18443, agent: 9000 } as const;
