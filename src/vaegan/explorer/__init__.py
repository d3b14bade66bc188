"""The latent explorer (`vaegan serve RUN`): a web page to sample, move along class and principal
directions, reconstruct and edit an uploaded image, and interpolate, decoded on the server."""
