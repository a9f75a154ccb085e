//! `azir report`: the incident report as one self-contained HTML file (see `azir-report`).
