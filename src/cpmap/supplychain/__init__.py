"""CP3: secure environment and supply chain (deps, SBOM, secrets, models, images, access)."""
