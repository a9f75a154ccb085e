//! Forensic environment (`azir lab plan`) and containment plans (`azir contain plan`), generated
//! from the case's network configuration as reviewable `az` CLI scripts and Bicep, and checked
//! (`azir lab check`) before anyone runs them. Nothing here talks to Azure.
