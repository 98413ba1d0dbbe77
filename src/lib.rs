//! `referent`: the secretariat of committees and councils, run by email.
//!
//! The crate is a library with a thin binary (`src/main.rs`). Pure code lives in
//! [`domain`], [`understand`], [`workflow`] and [`schedule`]; adapters (storage, mail in
//! and out, templates) sit at the edge behind small traits, and only [`daemon`] and
//! [`cli`] name concrete adapters.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod council;
pub mod daemon;
pub mod demo;
pub mod domain;
pub mod mail;
pub mod render;
pub mod report;
pub mod schedule;
pub mod store;
pub mod trust;
pub mod understand;
pub mod workflow;
