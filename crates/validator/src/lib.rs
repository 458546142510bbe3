//! The subnet validator (issue 16). Built so far: [`weights`], setting weights by
//! commit-reveal with the weights and salt kept on disk between the commit and the
//! reveal (a tempo later), so a restart in between loses nothing. The daemon that audits
//! providers' real calls, scores them and commits each tempo grows here next.

pub mod schedule;
pub mod weights;
