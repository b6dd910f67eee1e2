enum HeraldClientPlaceholder {}
