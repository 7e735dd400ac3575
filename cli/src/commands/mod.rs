//! One module per command (or command group).

pub mod bootstrap;
pub mod daemon;
pub mod demo;
pub mod federation;
pub mod feed;
pub mod id;
pub mod import;
pub mod init;
pub mod list;
pub mod member;
pub mod motion;
pub mod node;
pub mod node_cmds;
pub mod price;
pub mod profile;
pub mod prompt;
pub mod provider;
pub mod record;
pub mod retract;
pub mod review;
pub mod secret;
pub mod status;
pub mod support;
pub mod switch;
pub mod write;
