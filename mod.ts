/**
 * vnetif — a virtual network interface, a software Ethernet switch and a userspace TCP/IP stack for TypeScript,
 * built on Effect v4 and native to Bun and Deno.
 *
 * @module
 */
export {}
