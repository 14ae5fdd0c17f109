/**
 * How the firewall confirmation dials. It must give up well before the host's revert fires: a dial
 * that reached the host after the revert would confirm a ruleset the host no longer has loaded.
 * dialErrorLimit N means N + 1 attempts.
 */
export const confirmDial = { attempts: 2, timeoutSeconds: 5 } as const;

/** The longest the confirmation can spend dialing, in seconds. */
export const confirmDialBudgetSeconds = (confirmDial.attempts + 1) * confirmDial.timeoutSeconds;
