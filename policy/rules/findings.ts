import type { ResourceView } from "../values";

export interface Finding {
    kind: "violation" | "skipped";
    message: string;
    /** The resource the finding is about; "" for the stack as a whole. */
    urn: string;
}

export const violation = (urn: string, message: string): Finding => ({ kind: "violation", message, urn });
export const skipped = (urn: string, message: string): Finding => ({ kind: "skipped", message, urn });

/** How messages name a resource: its type and name, as `pulumi preview` lists them. */
export const describe = (r: ResourceView) => `${r.type} "${r.name}"`;
