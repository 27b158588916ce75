"""The paper wing: recipes that rebuild the authors' analyses from the published files."""
