//! Sigma detection engine (skeleton; filled by issue 4).
