/**
 * The TCP layer's one error and its one reason union. The pure core ({@link Tcb}) records why a connection ended
 * abnormally with the same union (it only ever sets "Refused", "Reset" or "TimedOut"), so a reason never has to be
 * translated between the core and the shell.
 *
 * @module
 */
import * as Data from "effect/Data"
import type { TaggedErrorClass } from "../util/TaggedErrorClass.ts"

/** Why a TCP operation failed. */
export type TcpErrorReason =
  | "Refused"
  | "Reset"
  | "TimedOut"
  | "Closed"
  | "AddressInUse"
  | "InvalidArgument"
  | "InvalidConfig"
  | "NoRoute"

/** The fields of {@link TcpError}. */
export interface TcpErrorFields {
  /** Which kind of failure this is. */
  readonly reason: TcpErrorReason
  /** What went wrong, for a person. */
  readonly message: string
}

/** The base class of {@link TcpError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const TcpErrorBase: TaggedErrorClass<"TcpError", TcpErrorFields> = Data.TaggedError("TcpError")<TcpErrorFields>

/** The TCP layer's error. */
export class TcpError extends TcpErrorBase {}
