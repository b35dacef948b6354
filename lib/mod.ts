/**
 * mm-lab: a small, faithful model of Linux memory management (v6.18).
 *
 * The front door that notebooks and tests import.
 * @module
 */
export {};
