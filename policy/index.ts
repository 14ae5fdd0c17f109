import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

// Mandatory: a violation fails `pulumi preview` and stops `pulumi up` before the resource is touched
// (stack policies run once every resource is registered, so the deploy workflow previews with the pack first).
new PolicyPack("limen", { policies, enforcementLevel: "mandatory" });
