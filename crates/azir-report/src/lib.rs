//! The incident report: one self-contained HTML file.
