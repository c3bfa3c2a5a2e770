/**
 * A JSON document the code under test produced (an admin API answer, a log line). Tests read it
 * field by field and compare every value they read with an assertion, so a wrong shape fails
 * the test: it is typed `any` once, here, instead of a type per answer.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any
