print("segc")
