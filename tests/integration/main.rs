//! referent's integration tests: one binary (each extra test binary costs link time).
//! Mail tests go through the real Dovecot and Postfix that `scripts/test` starts;
//! storage tests through real SQLite and PostgreSQL.

// Waiting for real servers needs the wall clock; the library never reads it.
#![allow(clippy::disallowed_methods)]

mod auth_support;
mod support;

mod auth_stack;
mod by_mail;
mod by_mail_stack;
mod calendar;
mod cli;
mod cluster;
mod delivery;
mod e2e;
mod e2e_more;
mod golden;
mod outbound;
mod outgoing;
mod people;
mod privacy;
mod robustness;
mod store;
mod trust;
mod trust_stack;
mod year;
