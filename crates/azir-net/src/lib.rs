//! Network analytics over flow records (skeleton; filled by issue 5).
