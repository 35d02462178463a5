"""The tables of the `tunelens reproduce` studies, in their papers' layouts."""
